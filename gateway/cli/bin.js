#!/usr/bin/env node
// The `fleetgate` operator CLI. In a checkout (the TypeScript sources are here) it runs them
// through tsx; the installed package has only the compiled code (dist/, `npm run build`).
import { existsSync } from 'node:fs';

const source = new URL('./main.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import('../../dist/gateway/cli/main.js');
}
