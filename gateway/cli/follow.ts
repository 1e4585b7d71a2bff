// `fleetgate deployments logs ID --follow`: prints the engine's lines as the gateway relays
// them (server-sent events), until the stream ends or Ctrl-C (which ends the process, and
// with it the connection, so the gateway stops following on the node).
import { z } from 'zod';
import { CliError, type AdminApi } from './client.ts';

const LogEventSchema = z.object({ instance_id: z.string(), node_id: z.string(), line: z.string() });

// The data of each complete event in `text`, and what is left for the next chunk.
export function sseData(text: string): { events: { event: string; data: string }[]; rest: string } {
  const blocks = text.split(/\r?\n\r?\n/);
  const rest = blocks.pop() ?? '';
  const events = blocks.flatMap((block) => {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    return data.length ? [{ event, data: data.join('\n') }] : [];
  });
  return { events, rest };
}

export async function followLogs(
  api: AdminApi,
  path: string,
  query: Record<string, string | number | undefined>,
  json: boolean,
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<void> {
  const body = await api.stream(path, { ...query, follow: 'true' });
  const decoder = new TextDecoder();
  let buffered = '';
  const reader = body.getReader();
  for (;;) {
    const { done, value: chunk } = await reader.read();
    if (done) break;
    const { events, rest } = sseData(buffered + decoder.decode(chunk, { stream: true }));
    buffered = rest;
    for (const { event, data } of events) {
      if (event === 'error') {
        const parsed = z.object({ message: z.string() }).safeParse(JSON.parse(data));
        throw new CliError(parsed.success ? parsed.data.message : 'the log stream failed');
      }
      const parsed = LogEventSchema.safeParse(JSON.parse(data));
      if (!parsed.success)
        throw new CliError('the gateway sent a log event this CLI does not know');
      write(json ? data : parsed.data.line);
    }
  }
}
