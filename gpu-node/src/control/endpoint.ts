// Engines the daemon starts listen on 127.0.0.1 at a port it picks; this is how it picks
// one and how it reaches the engine there.
import { createServer } from 'node:net';
import type { EngineEndpoint } from '../recipes/types.ts';

export function freeLocalPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function localEndpoint(
  port: number,
  healthPath: string,
  metricsPath?: string,
): EngineEndpoint {
  const baseUrl = `http://127.0.0.1:${port}`;
  const endpoint: EngineEndpoint = {
    baseUrl,
    healthUrl: `${baseUrl}${healthPath}`,
    headers: {},
  };
  if (metricsPath) endpoint.metricsUrl = `${baseUrl}${metricsPath}`;
  return endpoint;
}
