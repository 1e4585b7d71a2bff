// fleetgate: the operator CLI. Every command is one admin API call over HTTP.
//   FLEETGATE_URL          gateway base URL (default http://127.0.0.1:8787)
//   FLEETGATE_ADMIN_TOKEN  admin token (read from the environment only, so it never shows
//                          up in the process list or shell history as an argument)
import { parseArgs } from 'node:util';
import { adminClient, CliError, describeError } from './client.ts';
import { commands, usage } from './commands.ts';

async function main(argv: string[]): Promise<number> {
  const [group, ...afterGroup] = argv;
  if (!group || group === '-h' || group === '--help') {
    console.log(usage);
    return group ? 0 : 1;
  }
  // `usage` stands alone; every other command is "<resource> <action>".
  const single = commands[group];
  const name = single ? group : `${group} ${afterGroup[0] ?? ''}`.trim();
  const args = single ? afterGroup : afterGroup.slice(1);
  const command = commands[name];
  if (!command) throw new CliError(`unknown command '${name}'\n\n${usage}`);
  if (args.includes('-h') || args.includes('--help')) {
    console.log(usage);
    return 0;
  }
  const { url: urlFlag, json } = parseArgs({
    args,
    strict: false,
    options: { url: { type: 'string' }, json: { type: 'boolean' } },
  }).values;
  const url =
    (typeof urlFlag === 'string' ? urlFlag : undefined) ??
    process.env.FLEETGATE_URL ??
    'http://127.0.0.1:8787';
  const adminToken = process.env.FLEETGATE_ADMIN_TOKEN;
  if (!adminToken) throw new CliError('FLEETGATE_ADMIN_TOKEN is not set');
  try {
    const out = await command.run(adminClient({ url, adminToken }), { args, json: json === true });
    if (out) console.log(out);
    return 0;
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(describeError(err, url));
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`fleetgate: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  },
);
