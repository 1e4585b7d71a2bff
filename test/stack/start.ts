// `npm start`: the whole stack on one machine, no GPU needed. A Node-host gateway on an
// embedded libSQL file, one local gpu-node registered with a real registration token, and
// a deployment of a simulated model (the engine simulator: a demo tool, not a real model).
// State lives in ./data (FLEETGATE_DATA_DIR): a second start reuses the database, the node
// identity and the demo key, so keys made earlier keep working.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Service } from '../support/processes.ts';
import {
  createDeployment,
  registerNode,
  runNode,
  startGateway,
  waitForReady,
  type Deployment,
} from '../support/stack.ts';

const DEMO_MODEL = 'fleetgate-sim';

const dataDir = resolve(process.env.FLEETGATE_DATA_DIR ?? 'data');
const gatewayPort = Number(process.env.FLEETGATE_PORT ?? 8787);
const nodePort = Number(process.env.FLEETGATE_NODE_PORT ?? 8788);

// Local secrets of the demo stack, kept readable by this user only. A real deployment
// keeps the admin token in its secret store and never writes API keys to disk.
async function localSecret(name: string, make: () => Promise<string> | string): Promise<string> {
  const path = join(dataDir, name);
  if (existsSync(path)) return (await readFile(path, 'utf8')).trim();
  const value = await make();
  await writeFile(path, `${value}\n`, { mode: 0o600 });
  return value;
}

const services: Service[] = [];
let stopping = false;

async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    console.log('\nstopping fleetgate...');
    // The daemon first, so it stops its engines; then the gateway flushes usage.
    for (const service of [...services].reverse()) await service.stop('SIGTERM', 10_000);
  }
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

async function main(): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const adminToken = await localSecret(
    'admin-token',
    () => process.env.FLEETGATE_ADMIN_TOKEN ?? `fga-${randomBytes(24).toString('base64url')}`,
  );

  const gateway = await startGateway({
    dataDir,
    adminToken,
    port: gatewayPort,
    heartbeatIntervalS: 2,
    echo: true,
  });
  services.push(gateway.service);

  const configPath = join(dataDir, 'node.json');
  const nodeId = existsSync(configPath)
    ? (JSON.parse(await readFile(configPath, 'utf8')) as { node_id: string }).node_id
    : await registerNode({ gateway, name: 'local-node', configPath, port: nodePort });
  const node = await runNode({ name: 'gpu-node', configPath, port: nodePort, nodeId, echo: true });
  services.push(node.service);

  const existing = await gateway.admin.request<{ data: Deployment[] }>('GET', '/deployments');
  const deployment =
    existing.data.find((d) => d.model === DEMO_MODEL) ??
    (await createDeployment(gateway, {
      model: DEMO_MODEL,
      recipe: 'sim',
      options: { ttft_ms: 80, itl_ms: 25, max_tokens: 64, seed: 7 },
      replicas: 1,
    }));
  await waitForReady(gateway, deployment.id, 120_000);

  const demoKey = await localSecret('demo-key', async () => {
    const key = await gateway.admin.request<{ key: string }>('POST', '/keys', { name: 'demo' });
    return key.key;
  });

  console.log(`
fleetgate is running (Ctrl-C stops it; state is kept in ${dataDir})

  gateway      ${gateway.url}
  admin token  ${adminToken}
  demo API key ${demoKey}
  model        ${DEMO_MODEL} (the engine simulator: a demo, not a real model)

Try it:

  curl ${gateway.url}/v1/chat/completions \\
    -H "Authorization: Bearer ${demoKey}" -H "Content-Type: application/json" \\
    -d '{"model": "${DEMO_MODEL}", "messages": [{"role": "user", "content": "Hello!"}]}'

  OPENAI_BASE_URL=${gateway.url}/v1 OPENAI_API_KEY=${demoKey} node --input-type=module -e '
    import OpenAI from "openai";
    const stream = await new OpenAI().chat.completions.create({
      model: "${DEMO_MODEL}", stream: true, messages: [{ role: "user", content: "Hello!" }] });
    for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta?.content ?? "");
    console.log();'

  FLEETGATE_ADMIN_TOKEN=${adminToken} npx fleetgate usage --group-by model
`);

  // Stay up until Ctrl-C; if a part dies, take the rest down with it.
  await Promise.race(
    services.map(
      (s) =>
        new Promise<string>((resolve) =>
          s.child.once('exit', (code) => resolve(`${s.name} exited with ${String(code)}`)),
        ),
    ),
  ).then(async (why) => {
    if (stopping) return;
    console.error(why);
    await shutdown(1);
  });
}

main().catch(async (err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  await shutdown(1);
});
