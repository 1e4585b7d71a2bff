// `npm run bench -- --profile`: the gateway and the daemon run under `node --cpu-prof`;
// once they exited, their profiles are moved to <results>/profiles/<role>.cpuprofile and
// summarized, each cropped to the window of the level it is read for.
import { readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../support/processes.ts';
import {
  isCpuProfile,
  renderProfileSummary,
  summarizeProfile,
  type CpuProfile,
} from './profile.ts';
import { PATH_LABELS, type LevelResult } from './results.ts';

export const PROFILE_TOP = 15;

// Node arguments that make a process write its CPU profile into dir when it exits.
export function profileArgs(dir: string): string[] {
  return ['--cpu-prof', '--cpu-prof-dir', dir];
}

// A process writes one profile per thread; the main thread's is the largest.
async function largestProfile(dir: string): Promise<string | undefined> {
  let best: { path: string; size: number } | undefined;
  for (const name of await readdir(dir).catch(() => [])) {
    if (!name.endsWith('.cpuprofile')) continue;
    const path = join(dir, name);
    const { size } = await stat(path);
    if (!best || size > best.size) best = { path, size };
  }
  return best?.path;
}

export interface ProfileRead {
  role: string;
  level: LevelResult;
}

// Moves each role's profile to <profilesDir>/<role>.cpuprofile and returns the Markdown
// summary of each, within its level's window.
export async function collectProfiles(
  profilesDir: string,
  reads: readonly ProfileRead[],
): Promise<string> {
  const out: string[] = [
    '## CPU profiles',
    '',
    `\`node --cpu-prof\` profiles in ${profilesDir} (open them in Chrome DevTools, Performance ` +
      'panel, or https://www.speedscope.app). Self time per function and per area, top ' +
      `${PROFILE_TOP}, within the window of the level named. Sampling costs some CPU: ` +
      'compare CPU figures of a profiled run with each other only.',
    '',
  ];
  const profiles = new Map<string, CpuProfile>();
  for (const role of new Set(reads.map((r) => r.role))) {
    const dir = join(profilesDir, role);
    const found = await largestProfile(dir);
    if (!found) {
      out.push(`No profile of the ${role} in ${dir}.`, '');
      continue;
    }
    const target = join(profilesDir, `${role}.cpuprofile`);
    await rename(found, target);
    await rm(dir, { recursive: true, force: true });
    const parsed: unknown = JSON.parse(await readFile(target, 'utf8'));
    if (isCpuProfile(parsed)) profiles.set(role, parsed);
    else out.push(`${target} is not a CPU profile.`, '');
  }
  for (const { role, level } of reads) {
    const profile = profiles.get(role);
    if (!profile) continue;
    const summary = summarizeProfile(profile, repoRoot, level.windowUs, PROFILE_TOP);
    const title =
      `${role}, ${PATH_LABELS[level.path]}, ${level.concurrency} streams ` + `(${role}.cpuprofile)`;
    out.push(renderProfileSummary(title, summary));
  }
  return out.join('\n');
}
