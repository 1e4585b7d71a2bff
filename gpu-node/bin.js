#!/usr/bin/env node
// The `fleetgate-node` command. In a checkout (the TypeScript sources are here) it runs them
// through tsx; the installed package has only the compiled code (dist/, `npm run build`).
import { existsSync } from 'node:fs';

const source = new URL('./src/cli.ts', import.meta.url);
let cli;
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(source.href);
} else {
  cli = await import('../dist/gpu-node/src/cli.js');
}
process.exitCode = await cli.main(process.argv.slice(2));
