// `npm run build`: compiles the three programs (and the engine simulator the `sim` recipe
// starts) to JavaScript in dist/, so the package runs with no TypeScript loader.
//
// Each entry is bundled by esbuild into one ES module at its source's place under dist/
// (gateway/src/node.ts -> dist/gateway/src/node.js); npm packages stay external imports.
// Bundling puts many modules in one file, which would change what `import.meta.url` means
// in each of them; the sources resolve files relative to themselves (the SQL migrations,
// package.json, the simulator's entry), so every module's `import.meta.url` is rewritten to
// the URL its own compiled file would have under dist/. Paths then resolve as they do from
// the sources, against a dist/ that also holds the migrations and a package.json.
//
// `tsx build.ts ui` (`npm run build:ui`) bundles only the dashboard into gateway/ui/dist
// (gateway/ui/bundle.ts), for the Node host run from the sources and for wrangler.
//
// `npm run images` (`tsx build.ts images`) builds the two images of docker/ from a staged
// copy of the package: what `npm pack` ships, plus the production dependencies installed
// here by `npm ci --omit=dev` from the lockfile, so `docker build` needs no network.
import { execFile } from 'node:child_process';
import { copyFile, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { build, type Plugin } from 'esbuild';
import { buildUi } from './gateway/ui/bundle.ts';

const exec = promisify(execFile);

const ROOT = dirname(fileURLToPath(import.meta.url));
const DIST = join(ROOT, 'dist');

// Source entry -> whether it is run directly as a bin (gets a shebang line).
const ENTRIES: Record<string, boolean> = {
  'gateway/src/node.ts': true,
  'gateway/cli/main.ts': false,
  'gpu-node/src/cli.ts': false,
  'gpu-node/src/sim/main.ts': false,
};

function compiledPath(source: string): string {
  return join(DIST, relative(ROOT, source)).replace(/\.ts$/, '.js');
}

// The relative URL from one compiled file to another (always with forward slashes).
function relativeUrl(fromFile: string, toFile: string): string {
  const rel = relative(dirname(fromFile), toFile).split(sep).join('/');
  return rel.startsWith('.') ? rel : `./${rel}`;
}

function importMetaUrlInPlace(entryOut: string): Plugin {
  return {
    name: 'import-meta-url-in-place',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, async (args) => {
        const text = await readFile(args.path, 'utf8');
        if (!text.includes('import.meta.url')) return undefined;
        const url = relativeUrl(entryOut, compiledPath(args.path));
        return {
          contents: text.replaceAll(
            'import.meta.url',
            `new URL(${JSON.stringify(url)}, import.meta.url).href`,
          ),
          loader: 'ts',
        };
      });
    },
  };
}

export async function buildDist(): Promise<void> {
  await rm(DIST, { recursive: true, force: true });
  for (const [entry, isBin] of Object.entries(ENTRIES)) {
    const source = join(ROOT, entry);
    const out = compiledPath(source);
    await build({
      entryPoints: [source],
      outfile: out,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      legalComments: 'none',
      logLevel: 'warning',
      banner: isBin ? { js: '#!/usr/bin/env node' } : {},
      plugins: [importMetaUrlInPlace(out)],
    });
  }
  // Read at run time, relative to the compiled modules (see above).
  await cp(join(ROOT, 'schema/migrations'), join(DIST, 'schema/migrations'), { recursive: true });
  // The dashboard, where the compiled Node host looks for it (gateway/ui/dist beside its
  // gateway/src, as from the sources).
  await buildUi(join(DIST, 'gateway/ui/dist'));
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
  };
  await mkdir(DIST, { recursive: true });
  await writeFile(
    join(DIST, 'package.json'),
    `${JSON.stringify({ version: pkg.version, private: true, type: 'module' }, null, 2)}\n`,
  );
  console.log(`built ${Object.keys(ENTRIES).length} entries into ${relative(ROOT, DIST)}/`);
}

// `npm pack` (which builds dist/ first) into `dir`; answers the tarball's path.
export async function packInto(dir: string): Promise<string> {
  await exec('npm', ['pack', '--silent', '--pack-destination', dir], {
    cwd: ROOT,
    maxBuffer: 16 * 1024 * 1024,
  });
  const tarball = (await readdir(dir)).find((f) => /^fleetgate-.*\.tgz$/.test(f));
  if (!tarball) throw new Error(`npm pack left no tarball in ${dir}`);
  return join(dir, tarball);
}

// The images' build context, from a packed tarball: the package, the lockfile and the
// pruning script (stage 1 of the Dockerfiles), with the production dependencies installed.
export async function stageImageContext(tarball: string, context: string): Promise<void> {
  await mkdir(context, { recursive: true });
  await exec('tar', ['-xzf', tarball, '-C', context, '--strip-components=1']);
  await copyFile(join(ROOT, 'package-lock.json'), join(context, 'package-lock.json'));
  await copyFile(join(ROOT, 'docker/prune.js'), join(context, 'prune.js'));
  await exec(
    'npm',
    ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'],
    { cwd: context, maxBuffer: 16 * 1024 * 1024 },
  );
}

export const IMAGES = { gateway: 'gateway.Dockerfile', node: 'node.Dockerfile' } as const;

export interface DockerBuildOptions {
  dockerfile: string;
  tag: string;
  context: string;
  // The base image (the Dockerfiles' NODE_IMAGE argument).
  nodeImage?: string;
  labels?: Record<string, string>;
  env?: NodeJS.ProcessEnv;
}

export async function dockerBuild(opts: DockerBuildOptions): Promise<void> {
  const args = ['build', '--quiet', '--force-rm', '-f', join(ROOT, 'docker', opts.dockerfile)];
  if (opts.nodeImage) args.push('--build-arg', `NODE_IMAGE=${opts.nodeImage}`);
  for (const [key, value] of Object.entries(opts.labels ?? {})) {
    args.push('--label', `${key}=${value}`);
  }
  args.push('-t', opts.tag, opts.context);
  await exec('docker', args, { env: opts.env ?? process.env, maxBuffer: 16 * 1024 * 1024 });
}

async function buildImagesCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'node-image': { type: 'string' },
      'tag-prefix': { type: 'string', default: 'fleetgate' },
      tag: { type: 'string', default: 'latest' },
    },
  });
  const work = await mkdtemp(join(tmpdir(), 'fleetgate-images-'));
  try {
    const context = join(work, 'context');
    await stageImageContext(await packInto(work), context);
    for (const [name, dockerfile] of Object.entries(IMAGES)) {
      const tag = `${values['tag-prefix']}-${name}:${values.tag}`;
      await dockerBuild({ dockerfile, tag, context, nodeImage: values['node-image'] });
      console.log(`built ${tag}`);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [command, ...rest] = process.argv.slice(2);
  if (command === 'images') await buildImagesCommand(rest);
  else if (command === 'ui') {
    const files = await buildUi();
    console.log(`built the dashboard into gateway/ui/dist/ui/: ${files.join(', ')}`);
  } else if (command === undefined) await buildDist();
  else throw new Error(`build.ts: unknown command '${command}' (none, ui, or images)`);
}
