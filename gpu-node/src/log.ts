// One line per event on stdout/stderr, with a timestamp; systemd's journal adds the rest.
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function consoleLogger(): Logger {
  const stamp = () => new Date().toISOString();
  return {
    info: (message) => console.log(`${stamp()} info  ${message}`),
    warn: (message) => console.warn(`${stamp()} warn  ${message}`),
    error: (message) => console.error(`${stamp()} error ${message}`),
  };
}
