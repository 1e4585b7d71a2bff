#!/usr/bin/env node
// Launcher for the `fleetgate` operator CLI: lets Node 20 load the TypeScript sources.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
