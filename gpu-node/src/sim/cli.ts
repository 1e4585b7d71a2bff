// Command-line and environment settings for the simulator process. Flags win over
// FLEETGATE_SIM_* variables; ranges are checked by the recipe schema (options.ts).
import { parseArgs } from 'node:util';
import { TUNABLE_KEYS, resolveOptions, type SimOptions } from './options.ts';

export const USAGE = `usage: node --import tsx gpu-node/src/sim/main.ts --model NAME [options]

fleetgate-sim: an OpenAI-compatible engine simulator (not a real model).

  --model NAME                  model name to serve (required)
  --served-model-name NAME...   names to answer to instead (repeatable)
  --host HOST                   address to bind (default 127.0.0.1)
  --port N                      port (default 8000; 0 picks a free one)
  --seed N                      seed of the output and jitter (default 0)
  --ttft-ms X                   fixed prefill overhead per request (default 50)
  --prefill-ms-per-token X      prefill time per uncached prompt token (default 0.05)
  --itl-ms X                    time between output tokens (default 15)
  --jitter F                    random +-fraction on each delay, 0..1 (default 0)
  --max-num-seqs N              sequences running at once; the rest queue (default 256)
  --max-tokens N                the model's longest answer (default 4096)
  --prefix-cache-tokens N       prefix-cache capacity in tokens, 0 = off (default 65536)
  --failure-rate F              share of requests answered with 500, 0..1 (default 0)
  --startup-delay-ms X          time /health answers 503 after start (default 0)
  --hang-after-requests N       fault: stop producing tokens after N requests (0 = never)
  --hang-ms X                   how long such a hang lasts, 0 = until restarted (default 0)
  --log-requests                print one line per answered request (default off)

Each setting can also come from the environment, e.g. FLEETGATE_SIM_ITL_MS=20.`;

const FLAG_OF: Record<keyof typeof TUNABLE_KEYS, string> = {
  seed: 'seed',
  ttft_ms: 'ttft-ms',
  prefill_ms_per_token: 'prefill-ms-per-token',
  itl_ms: 'itl-ms',
  jitter: 'jitter',
  max_num_seqs: 'max-num-seqs',
  max_tokens: 'max-tokens',
  prefix_cache_tokens: 'prefix-cache-tokens',
  failure_rate: 'failure-rate',
  startup_delay_ms: 'startup-delay-ms',
  hang_after_requests: 'hang-after-requests',
  hang_ms: 'hang-ms',
};

export class CliError extends Error {
  override name = 'CliError';
}

function toNumber(raw: string, what: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n))
    throw new CliError(`${what} must be a number, got '${raw}'`);
  return n;
}

export type CliResult = { help: true } | { help: false; options: SimOptions };

export function parseCli(argv: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const stringFlags = ['model', 'host', 'port', ...Object.values(FLAG_OF)];
  let values: Record<string, string | string[] | boolean | undefined>;
  const served: string[] = [];
  try {
    const parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      tokens: true,
      options: {
        ...Object.fromEntries(stringFlags.map((f) => [f, { type: 'string' as const }])),
        'served-model-name': { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
        'log-requests': { type: 'boolean' },
      },
    });
    values = parsed.values;
    // vLLM takes several names after one flag (--served-model-name a b); a bare word is
    // accepted only there.
    let inServed = false;
    for (const token of parsed.tokens) {
      if (token.kind === 'option') {
        inServed = token.name === 'served-model-name';
        if (inServed && token.value !== undefined) served.push(token.value);
      } else if (token.kind === 'positional' && inServed) {
        served.push(token.value);
      } else if (token.kind === 'positional') {
        throw new CliError(`unexpected argument '${token.value}'`);
      }
    }
  } catch (err) {
    throw err instanceof CliError ? err : new CliError((err as Error).message);
  }
  if (values.help === true) return { help: true };

  const flag = (name: string, envName: string): [string, string] | undefined => {
    const v = values[name];
    if (typeof v === 'string') return [v, `--${name}`];
    const e = env[envName];
    return e !== undefined && e !== '' ? [e, envName] : undefined;
  };

  const model = flag('model', 'FLEETGATE_SIM_MODEL');
  if (!model || model[0].trim() === '') throw new CliError('--model NAME is required');
  const opts: Partial<SimOptions> & { model: string } = { model: model[0] };

  const host = flag('host', 'FLEETGATE_SIM_HOST');
  if (host) opts.host = host[0];
  const port = flag('port', 'FLEETGATE_SIM_PORT');
  opts.port = 8000;
  if (port) {
    const n = toNumber(port[0], port[1]);
    if (!Number.isInteger(n) || n < 0 || n > 65535)
      throw new CliError(`${port[1]} must be a port number from 0 to 65535`);
    opts.port = n;
  }
  const logRequests = env.FLEETGATE_SIM_LOG_REQUESTS;
  if (
    values['log-requests'] === true ||
    (logRequests !== undefined && /^(1|true)$/i.test(logRequests))
  ) {
    opts.logRequests = true;
  }
  if (served.length > 0) opts.servedModelNames = served;
  else if (env.FLEETGATE_SIM_SERVED_MODEL_NAME) {
    opts.servedModelNames = env.FLEETGATE_SIM_SERVED_MODEL_NAME.split(',').filter(Boolean);
  }

  for (const [snake, camel] of Object.entries(TUNABLE_KEYS) as [
    keyof typeof TUNABLE_KEYS,
    (typeof TUNABLE_KEYS)[keyof typeof TUNABLE_KEYS],
  ][]) {
    const given = flag(FLAG_OF[snake], `FLEETGATE_SIM_${snake.toUpperCase()}`);
    if (given) opts[camel] = toNumber(given[0], given[1]);
  }

  try {
    return { help: false, options: resolveOptions(opts) };
  } catch (err) {
    // Name the flag rather than the schema key the check reports.
    let message = (err as Error).message;
    for (const [snake, f] of Object.entries(FLAG_OF))
      message = message.replace(`'${snake}'`, `--${f}`);
    throw new CliError(message);
  }
}
