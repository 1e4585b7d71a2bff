// Run in the image's first stage: drops from the staged package what nothing loads at run
// time (type declarations, source maps, READMEs and changelogs; licenses stay; the musl
// build of libSQL's addon on this glibc image), then removes itself, and makes the data
// folder.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = process.argv[2] ?? '/opt/fleetgate';
const dropFile = (name) =>
  /\.(d\.[cm]?ts|map)$/.test(name) ||
  (/\.(md|markdown)$/i.test(name) && !/^licen[cs]e/i.test(name));
const dropDir = new Set(['@libsql/linux-x64-musl', '@types']);
let removed = 0;

function walk(dir, rel) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const name = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      if ([...dropDir].some((d) => name.endsWith(`node_modules/${d}`))) {
        rmSync(path, { recursive: true });
        removed++;
      } else {
        walk(path, name);
      }
    } else if (dropFile(entry.name) && name.includes('node_modules/')) {
      rmSync(path);
      removed++;
    }
  }
}

walk(join(root, 'node_modules'), 'node_modules');
rmSync(join(root, 'prune.js'), { force: true });
mkdirSync('/var/lib/fleetgate', { recursive: true, mode: 0o700 });
console.log(`pruned ${removed} files and folders from ${root}/node_modules`);
