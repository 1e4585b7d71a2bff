// The docker runtime, loaded by runtimes/index.ts only when the node may use Docker.
import type { Runtime } from '../types.ts';
import { DockerRuntime, type DockerRuntimeOptions } from './runtime.ts';

export { DockerRuntime, DockerRuntimeError, type DockerRuntimeOptions } from './runtime.ts';
export { containerName, containerSpec, LABELS } from './spec.ts';

// Connects and checks the Engine answers, so a node without Docker says why at start-up.
export async function createDockerRuntime(options: DockerRuntimeOptions = {}): Promise<Runtime> {
  const runtime = new DockerRuntime(options);
  await runtime.ping();
  return runtime;
}
