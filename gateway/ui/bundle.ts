// Bundles the dashboard (gateway/ui/src) with esbuild into `<out>/ui/`: index.html, one
// JavaScript and one CSS file named by their content's hash (served as immutable), the
// folder mirroring the URLs under /ui/. `build.ts ui` and the tests write it to
// gateway/ui/dist (where the Node host run from the sources and wrangler.toml's assets
// look); `npm run build` writes it into dist/ for the package.
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const HERE = dirname(fileURLToPath(import.meta.url));
export const UI_OUT = join(HERE, 'dist');

// Browsers of the last few years; nothing older needs to run an operator's console.
const TARGETS = ['chrome111', 'firefox115', 'safari16.4', 'edge111'];

export async function buildUi(outRoot: string = UI_OUT): Promise<string[]> {
  // Built beside, then swapped in, so a gateway reading the folder never sees half a build.
  const staging = `${outRoot}.tmp-${process.pid}-${Date.now()}`;
  const out = join(staging, 'ui');
  try {
    const result = await build({
      entryPoints: { app: join(HERE, 'src/main.ts'), style: join(HERE, 'src/style.css') },
      outdir: out,
      entryNames: '[name]-[hash]',
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: TARGETS,
      minify: true,
      sourcemap: false,
      legalComments: 'none',
      metafile: true,
      logLevel: 'warning',
    });
    const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
    const js = outputs.find((f) => f.startsWith('app-') && f.endsWith('.js'));
    const css = outputs.find((f) => f.startsWith('style-') && f.endsWith('.css'));
    if (!js || !css)
      throw new Error(`dashboard build left no app script or style: ${outputs.join(', ')}`);
    const page = (await readFile(join(HERE, 'index.html'), 'utf8'))
      .replace('%APP_JS%', js)
      .replace('%APP_CSS%', css);
    await writeFile(join(out, 'index.html'), page);
    await mkdir(dirname(outRoot), { recursive: true });
    await rm(outRoot, { recursive: true, force: true });
    await rename(staging, outRoot);
    return ['index.html', js, css];
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
}
