// fleetgate-sim's process entry: an engine simulator for tests, demos and benchmarks,
// not a real model. Run with `node --import tsx gpu-node/src/sim/main.ts --model NAME`.
import { CliError, parseCli, USAGE } from './cli.ts';
import { startSim } from './server.ts';

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseCli(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    console.error(`fleetgate-sim: ${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (parsed.help) {
    console.log(USAGE);
    return;
  }
  const { options } = parsed;
  const sim = await startSim(options);
  console.log(
    `fleetgate-sim (engine simulator, not a real model) listening on ${sim.url} model=${options.model}`,
  );

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // A second signal: the operator does not want to wait.
      process.exit(1);
    }
    stopping = true;
    console.log(`fleetgate-sim: ${signal}, closing`);
    sim.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('fleetgate-sim: close failed:', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  console.error('fleetgate-sim: failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
