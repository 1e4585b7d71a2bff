// The `fleetgate-node` command line: `join`, `register` and `run`.
import { parseArgs } from 'node:util';
import { ConfigError, defaultConfigPath, loadConfig, parseListen } from './config.ts';
import { startDaemon } from './daemon.ts';
import { runJoin } from './join.ts';
import { consoleLogger } from './log.ts';
import { runRegister } from './register.ts';

const USAGE = `Usage: fleetgate-node <command> [options]

Commands:
  join       register (once) and run: fleetgate-node join --gateway URL --token TOKEN
             (see join --help)
  register   exchange a registration token for this node's identity (see register --help)
  run        run the daemon: fleetgate-node run [--config PATH] [--listen HOST:PORT]
`;

async function runDaemon(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        listen: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    console.error(`fleetgate-node run: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  return runFromConfig(values.config ?? defaultConfigPath(), values.listen);
}

// Runs the daemon until SIGTERM or SIGINT.
async function runFromConfig(configPath: string, listen: string | undefined): Promise<number> {
  const log = consoleLogger();
  let daemon;
  try {
    if (listen) parseListen(listen);
    const config = await loadConfig(configPath);
    daemon = await startDaemon({ config, configPath, listen, log });
  } catch (err) {
    if (err instanceof ConfigError) {
      log.error(err.message);
      return 2;
    }
    log.error(`cannot start: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }

  const running = daemon;
  // Whatever ends this process, engine processes must not outlive it (a crash included).
  process.on('exit', () => running.killEnginesSync());
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log.info(
        `${signal}: stopping (engines run as processes are stopped; containers keep running)`,
      );
      running.close().then(resolve, (err: unknown) => {
        log.error(`error while stopping: ${String(err)}`);
        resolve();
      });
    };
    // A second signal while stopping (Ctrl-C, then the supervisor's SIGTERM) changes nothing.
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  return 0;
}

export async function main(argv: string[], defaultCommand?: string): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '-h' || first === '--help') {
    console.log(USAGE);
    return 0;
  }
  const command = first && !first.startsWith('-') ? first : defaultCommand;
  const args = command === first ? rest : argv;
  switch (command) {
    case 'join':
      return runJoin(args, runFromConfig);
    case 'register':
      return runRegister(args);
    case 'run':
      return runDaemon(args);
    case 'help':
    case undefined:
      console.log(USAGE);
      return command === 'help' ? 0 : 2;
    default:
      console.error(`fleetgate-node: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}
