// Builds the two images of docker/ for the tests, with no registry: their base is a local
// stand-in for node:20-bookworm-slim (passed as the NODE_IMAGE build argument), imported
// from a root filesystem holding this machine's node binary and the shared libraries node
// and libSQL's native addon link, laid out as in the official image (npm is left out: the
// Dockerfiles do not use it). The build
// context is staged as `npm run images` stages it (build.ts). Each image
// carries a hash of its inputs and is rebuilt only when that hash changes.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { importRootfs, sharedLibraries } from '../docker/image.ts';
import { withLock } from '../support/lock.ts';
import { repoRoot } from '../support/processes.ts';
import { dockerBuild, IMAGES, stageImageContext } from '../../build.ts';
import { packPackage } from './package.ts';

const run = promisify(execFile);

export const BASE_IMAGE = 'fleetgate-nodejs-base:test';
export const GATEWAY_IMAGE = 'fleetgate-gateway:test';
export const NODE_IMAGE = 'fleetgate-node:test';
const HASH_LABEL = 'dev.fleetgate.content-hash';
// Where the official image keeps it.
const NODE_BIN = '/usr/local/bin/node';
const LIBSQL_ADDON = join(repoRoot, 'node_modules/@libsql/linux-x64-gnu/index.node');

async function docker(args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}

async function imageId(image: string): Promise<string | undefined> {
  try {
    return (await docker(['image', 'inspect', '-f', '{{.Id}}', image])) || undefined;
  } catch {
    return undefined;
  }
}

// A rebuilt image leaves its predecessor untagged; vfs keeps a full copy per layer, so it
// is removed (unless a container still uses it).
async function removeReplaced(oldId: string | undefined, image: string): Promise<void> {
  if (oldId && oldId !== (await imageId(image))) await docker(['rmi', oldId]).catch(() => '');
}

async function imageHash(image: string): Promise<string | undefined> {
  try {
    return (
      (await docker([
        'image',
        'inspect',
        '-f',
        `{{index .Config.Labels "${HASH_LABEL}"}}`,
        image,
      ])) || undefined
    );
  } catch {
    return undefined;
  }
}

function hashOf(...parts: (string | Buffer)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex').slice(0, 16);
}

// Answers the base's hash and, when it was rebuilt, the id of the image it replaced.
async function buildBase(): Promise<{ hash: string; replaced?: string }> {
  const node = process.execPath;
  const libs = [...new Set([...sharedLibraries(node), ...sharedLibraries(LIBSQL_ADDON)])];
  const hash = hashOf(process.version, node, libs.join('\n'), 'base-v3');
  if ((await imageHash(BASE_IMAGE)) === hash) return { hash };

  const root = await mkdtemp(join(tmpdir(), 'fleetgate-base-rootfs-'));
  try {
    // mkdtemp makes it 0700, which would lock every user but root out of the image.
    await chmod(root, 0o755);
    for (const lib of libs) {
      await mkdir(join(root, dirname(lib)), { recursive: true });
      await copyFile(lib, join(root, lib));
    }
    await mkdir(join(root, dirname(NODE_BIN)), { recursive: true });
    await copyFile(node, join(root, NODE_BIN));
    for (const dir of ['root', 'etc']) await mkdir(join(root, dir), { recursive: true });
    await mkdir(join(root, 'tmp'));
    await chmod(join(root, 'tmp'), 0o1777);
    // The official image's users: root and node (uid 1000).
    await writeFile(
      join(root, 'etc/passwd'),
      'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n',
    );
    await writeFile(join(root, 'etc/group'), 'root:x:0:\nnode:x:1000:\n');
    const oldId = await imageId(BASE_IMAGE);
    await importRootfs(root, BASE_IMAGE, [
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      `LABEL ${HASH_LABEL}=${hash}`,
      'CMD ["node"]',
    ]);
    return { hash, replaced: oldId };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

// Builds (or finds up to date) the base and both images; serialized across test files.
export function buildImages(): Promise<{ gateway: string; node: string }> {
  return withLock('fleetgate-dist-images', 600_000, async () => {
    const base = await buildBase();
    const work = await mkdtemp(join(tmpdir(), 'fleetgate-image-build-'));
    try {
      const tarball = await packPackage(work);
      const inputs = await Promise.all(
        [
          'package-lock.json',
          'docker/prune.js',
          'docker/gateway.Dockerfile',
          'docker/node.Dockerfile',
        ].map((f) => readFile(join(repoRoot, f))),
      );
      const hash = hashOf(base.hash, await readFile(tarball), ...inputs);
      const targets = [
        [IMAGES.gateway, GATEWAY_IMAGE],
        [IMAGES.node, NODE_IMAGE],
      ] as const;
      const stale = [];
      for (const target of targets) if ((await imageHash(target[1])) !== hash) stale.push(target);
      if (stale.length) {
        const context = join(work, 'context');
        await stageImageContext(tarball, context);
        for (const [dockerfile, tag] of stale) {
          const oldId = await imageId(tag);
          // The legacy builder builds from local images only, and offline.
          await dockerBuild({
            dockerfile,
            tag,
            context,
            nodeImage: BASE_IMAGE,
            labels: { [HASH_LABEL]: hash },
            env: { ...process.env, DOCKER_BUILDKIT: '0' },
          });
          await removeReplaced(oldId, tag);
        }
      }
      // The first stage's image of each build is left untagged, labelled like its base.
      const leftovers = await docker([
        'images',
        '-q',
        '--filter',
        'dangling=true',
        '--filter',
        `label=${HASH_LABEL}=${base.hash}`,
      ]);
      for (const id of new Set(leftovers.split('\n').filter(Boolean))) {
        await docker(['rmi', id]).catch(() => '');
      }
      // Last: the images built on the replaced base are gone by now.
      await removeReplaced(base.replaced, BASE_IMAGE);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    return { gateway: GATEWAY_IMAGE, node: NODE_IMAGE };
  });
}
