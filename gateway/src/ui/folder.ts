// The Node host's dashboard files: the built folder (gateway/ui/dist/ui, from `npm run
// build:ui` or the package's dist/) read once into memory at start. A request is answered
// only from that map of known names, so no path from a client reaches the file system.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { UiAssets } from '../types.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
};

interface File {
  body: Uint8Array<ArrayBuffer>;
  type: string;
  etag: string;
}

// The folder's files under /ui/ (index.html also as /ui/); undefined when it is not built.
export async function loadUiFolder(folder: string): Promise<UiAssets | undefined> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const files = new Map<string, File>();
  for (const name of names) {
    const type = TYPES[extname(name)];
    if (!type) continue;
    const body = new Uint8Array(await readFile(join(folder, name)));
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    files.set(`/ui/${name}`, { body, type, etag });
  }
  const index = files.get('/ui/index.html');
  if (!index) return undefined;
  files.set('/ui/', index);

  function answer(request: Request): Response {
    const file = files.get(new URL(request.url).pathname);
    if (!file) {
      return new Response('not found\n', {
        status: 404,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
      });
    }
    const headers = { 'content-type': file.type, etag: file.etag };
    if (request.headers.get('if-none-match') === file.etag) {
      return new Response(null, { status: 304, headers });
    }
    return new Response(request.method === 'HEAD' ? null : file.body, { headers });
  }
  return (request) => Promise.resolve(answer(request));
}
