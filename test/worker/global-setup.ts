// Runs in Node.js before the Worker tests: starts the real upstream server that plays the
// GPU node, and provides its URL to the pool (which passes it to the Worker as a binding).
import type { TestProject } from 'vitest/node';
import { startUpstream } from './upstream.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    upstreamUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const upstream = await startUpstream();
  project.provide('upstreamUrl', upstream.url);
  return () => upstream.close();
}
