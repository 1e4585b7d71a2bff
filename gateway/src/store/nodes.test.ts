// The SQL form of "online" against a real libSQL database: it must pick exactly the nodes
// liveness.isOnline calls online, boundaries included.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { nodes } from '../../../schema/db.ts';
import { isOnline, onlineSince } from '../control-plane/liveness.ts';
import { createTempDb, type TempDb } from '../testing/temp-db.ts';
import { nodeIsOnline } from './nodes.ts';

const NOW = 1_800_000_000_000;
const INTERVAL_S = 5;
let temp: TempDb;

beforeEach(async () => {
  temp = await createTempDb();
});
afterEach(async () => {
  await temp.close();
});

it('nodeIsOnline selects the same nodes as isOnline', async () => {
  const since = onlineSince(NOW, INTERVAL_S);
  const beats: (number | null)[] = [NOW, since + 1, since, since - 1, NOW - 3_600_000, null];
  await temp.db.insert(nodes).values(
    beats.map((lastHeartbeatAt, i) => ({
      id: `n${i}`,
      name: `n${i}`,
      advertiseUrl: `http://n${i}.test:9000`,
      secretHash: `hash-${i}`,
      daemonVersion: '1',
      gpus: [],
      createdAt: NOW,
      lastHeartbeatAt,
    })),
  );
  const all = await temp.db.select().from(nodes);
  const inSql = await temp.db
    .select({ id: nodes.id })
    .from(nodes)
    .where(nodeIsOnline(NOW, INTERVAL_S));
  const expected = all.filter((n) => isOnline(n, NOW, INTERVAL_S)).map((n) => n.id);
  expect(inSql.map((n) => n.id).sort()).toEqual(expected.sort());
  expect(expected.sort()).toEqual(['n0', 'n1', 'n2']);
});
