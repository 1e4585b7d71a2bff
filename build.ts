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
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

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

async function main(): Promise<void> {
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

await main();
