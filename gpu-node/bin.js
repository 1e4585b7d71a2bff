#!/usr/bin/env node
// The `fleetgate-node` command: TypeScript sources run through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
