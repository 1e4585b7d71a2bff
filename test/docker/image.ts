// Builds `fleetgate-sim:test` locally (no registry is reachable in CI): the engine simulator
// bundled into one JS file with esbuild, the node binary and the shared libraries it links,
// as a root filesystem streamed by `tar` into `docker import`. The image carries a hash of
// its contents and is rebuilt only when that hash changes.
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import { withLock } from '../support/lock.ts';

export const SIM_IMAGE = 'fleetgate-sim:test';
export const CONTENT_LABEL = 'dev.fleetgate.content-hash';

const SIM_MAIN = fileURLToPath(new URL('../../gpu-node/src/sim/main.ts', import.meta.url));

// The absolute paths of the shared libraries (and loader) `ldd` lists for a binary.
export function sharedLibraries(binary: string): string[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  const paths = new Set<string>();
  for (const line of out.split('\n')) {
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (match?.[1]) paths.add(match[1]);
  }
  return [...paths];
}

async function bundleSim(): Promise<string> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [SIM_MAIN],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    logLevel: 'silent',
    // Bundled CommonJS dependencies may still call require().
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error('esbuild produced no output for the simulator');
  return file.text;
}

async function currentHash(docker: Docker): Promise<string | undefined> {
  try {
    const info = await docker.getImage(SIM_IMAGE).inspect();
    return info.Config.Labels?.[CONTENT_LABEL];
  } catch {
    return undefined;
  }
}

// Streams a root filesystem into `docker import` as `image`.
export function importRootfs(root: string, image: string, changes: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['-C', root, '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const args = ['import', ...changes.flatMap((c) => ['--change', c]), '-', image];
    const imp = spawn('docker', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    tar.stdout.pipe(imp.stdin);
    let stderr = '';
    tar.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    imp.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    tar.once('error', reject);
    imp.once('error', reject);
    imp.once('exit', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`docker import failed (${String(code)}): ${stderr}`));
    });
  });
}

// Returns the image name; builds it when missing or out of date.
export function buildSimImage(docker: Docker): Promise<string> {
  return withLock('fleetgate-sim-image', 120_000, () => build(docker));
}

async function build(docker: Docker): Promise<string> {
  const bundle = await bundleSim();
  const node = process.execPath;
  const libs = sharedLibraries(node);
  const hash = createHash('sha256')
    .update(bundle)
    .update(process.version)
    .update(node)
    .update(libs.join('\n'))
    .digest('hex')
    .slice(0, 16);
  if ((await currentHash(docker)) === hash) return SIM_IMAGE;

  const root = await mkdtemp(join(tmpdir(), 'fleetgate-sim-rootfs-'));
  try {
    for (const path of [node, ...libs]) {
      await mkdir(join(root, dirname(path)), { recursive: true });
      await copyFile(path, join(root, path));
    }
    await mkdir(join(root, 'app'), { recursive: true });
    await mkdir(join(root, 'tmp'), { recursive: true });
    await writeFile(join(root, 'app', 'sim.mjs'), bundle);
    await importRootfs(root, SIM_IMAGE, [
      `ENTRYPOINT ["${node}", "/app/sim.mjs"]`,
      'CMD ["--help"]',
      `LABEL ${CONTENT_LABEL}=${hash}`,
    ]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return SIM_IMAGE;
}
