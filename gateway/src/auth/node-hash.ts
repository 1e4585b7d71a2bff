// The Node host's secret hash: the same SHA-256 hex as secrets.ts's hashSecret, computed
// with node:crypto in the calling thread instead of a Web Crypto job and its promise, on
// every request that presents an API key. Node only: the Worker host keeps hashSecret.
import { createHash } from 'node:crypto';

export function nodeHashSecret(secret: string): Promise<string> {
  return Promise.resolve(createHash('sha256').update(secret, 'utf8').digest('hex'));
}
