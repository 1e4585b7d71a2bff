// One line per event on stdout/stderr, with a timestamp; systemd's journal adds the rest.
import type { Logger } from './control/instances.ts';

export function consoleLogger(): Logger {
  const stamp = () => new Date().toISOString();
  return {
    info: (message) => console.log(`${stamp()} info  ${message}`),
    warn: (message) => console.warn(`${stamp()} warn  ${message}`),
    error: (message) => console.error(`${stamp()} error ${message}`),
  };
}
