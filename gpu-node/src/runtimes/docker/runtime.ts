// The docker runtime: each engine is a container on the host network, labelled as
// fleetgate's, so a restarted daemon finds (list) and adopts it instead of starting a
// second one. Docker's restart policy is off: the daemon restarts crashed engines itself.
import { mkdir } from 'node:fs/promises';
import Docker from 'dockerode';
import { LOG_LINE_MAX_BYTES } from '../../../../schema/contracts.ts';
import type { EngineSpec, EngineStatus, Runtime, StartHooks } from '../types.ts';
import { createLogLineDecoder, logLines } from './logs.ts';
import { PullTracker, pullLogLine, type PullEvent } from './pull.ts';
import {
  containerName,
  containerSpec,
  exitCodeFromStatusText,
  isHostPath,
  LABELS,
  sameSpec,
  statusOf,
} from './spec.ts';

export class DockerRuntimeError extends Error {
  override readonly name = 'DockerRuntimeError';
}

export interface DockerRuntimeOptions {
  // Defaults to DOCKER_HOST, else /var/run/docker.sock (dockerode's own rules).
  docker?: Docker;
  // Bound on one image pull; a registry that never answers must not hold the instance in
  // `pulling` forever (the daemon retries with back-off).
  pullTimeoutMs?: number;
}

function statusCode(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

// Docker's error bodies come as `(HTTP code 404) no such image - ...`; keep Docker's words.
function dockerMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const json = (err as { json?: unknown }).json;
  if (
    json &&
    typeof json === 'object' &&
    typeof (json as { message?: unknown }).message === 'string'
  ) {
    return (json as { message: string }).message;
  }
  return err.message;
}

export class DockerRuntime implements Runtime {
  readonly kind = 'docker' as const;
  readonly docker: Docker;
  private readonly pullTimeoutMs: number;

  constructor(options: DockerRuntimeOptions = {}) {
    this.docker = options.docker ?? new Docker();
    this.pullTimeoutMs = options.pullTimeoutMs ?? 60 * 60 * 1000;
  }

  // Fails with Docker's reason when the Engine is unreachable.
  async ping(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (err) {
      throw new DockerRuntimeError(`cannot reach the Docker Engine: ${dockerMessage(err)}`, {
        cause: err,
      });
    }
  }

  async start(
    spec: EngineSpec,
    hooks: StartHooks = {},
    signal?: AbortSignal,
  ): Promise<EngineStatus> {
    signal?.throwIfAborted();
    const create = containerSpec(spec);
    const image = create.Image ?? '';

    const existing = await this.inspectContainer(containerName(spec.instanceId));
    if (existing) {
      const labels = existing.Config.Labels ?? {};
      if (sameSpec(spec, labels, existing.Config.Image)) {
        hooks.onLog?.(`adopting container ${existing.Name} (${existing.Id.slice(0, 12)})`);
        if (!existing.State.Running) await this.docker.getContainer(existing.Id).start();
        return this.requireStatus(existing.Id);
      }
      // The same instance with other options: the old container must not linger.
      hooks.onLog?.(`replacing container ${existing.Name}: its spec changed`);
      await this.remove(existing.Id);
    }

    await this.ensureImage(image, hooks, signal);
    signal?.throwIfAborted();
    for (const v of spec.volumes ?? []) {
      if (isHostPath(v.source)) await mkdir(v.source, { recursive: true });
    }
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer(create);
    } catch (err) {
      throw new DockerRuntimeError(
        `cannot create container ${create.name ?? ''}: ${dockerMessage(err)}`,
        { cause: err },
      );
    }
    try {
      await container.start();
    } catch (err) {
      // A container that cannot start (no NVIDIA runtime, port in use) is removed, so the
      // daemon's retry creates a fresh one.
      await this.remove(container.id).catch(() => undefined);
      throw new DockerRuntimeError(
        `cannot start container ${create.name ?? ''}: ${dockerMessage(err)}`,
        { cause: err },
      );
    }
    if (signal?.aborted) {
      await this.stop(container.id, spec.stopGraceSeconds ?? 10);
      await this.remove(container.id);
      signal.throwIfAborted();
    }
    return this.requireStatus(container.id);
  }

  async imagePresent(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (err) {
      if (statusCode(err) === 404) return false;
      throw err;
    }
  }

  async ensureImage(image: string, hooks: StartHooks = {}, signal?: AbortSignal): Promise<void> {
    if (await this.imagePresent(image)) return;
    hooks.onLog?.(`pulling image ${image}`);
    const tracker = new PullTracker();
    const timeout = AbortSignal.timeout(this.pullTimeoutMs);
    const abortSignal = signal ? AbortSignal.any([signal, timeout]) : timeout;
    hooks.onPullProgress?.({ bytes: 0 });
    // Docker reports a failure after the pull started (a layer that fails verification, a
    // full disk) as an event in a 200 stream, not as an HTTP error: keep its words.
    const failed: { reason?: string } = {};
    try {
      const stream = await this.docker.pull(image, { abortSignal });
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          (stream as NodeJS.ReadableStream & { destroy?: (e?: Error) => void }).destroy?.();
          reject(abortSignal.reason instanceof Error ? abortSignal.reason : new Error('aborted'));
        };
        abortSignal.addEventListener('abort', onAbort, { once: true });
        this.docker.modem.followProgress(
          stream,
          (err: Error | null) => {
            abortSignal.removeEventListener('abort', onAbort);
            if (err) reject(err);
            else resolve();
          },
          (event: PullEvent) => {
            if (event.error) {
              failed.reason ??= event.errorDetail?.message ?? event.error;
              return;
            }
            const line = pullLogLine(image, event);
            if (line) hooks.onLog?.(line);
            const progress = tracker.update(event);
            if (progress) hooks.onPullProgress?.(progress);
          },
        );
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      const why = timeout.aborted
        ? `no answer within ${Math.round(this.pullTimeoutMs / 1000)}s`
        : dockerMessage(err);
      throw new DockerRuntimeError(`cannot pull image ${image}: ${why}`, { cause: err });
    }
    if (failed.reason !== undefined) {
      throw new DockerRuntimeError(`cannot pull image ${image}: ${failed.reason}`);
    }
    if (!(await this.imagePresent(image))) {
      throw new DockerRuntimeError(`cannot pull image ${image}: the pull ended without it`);
    }
    hooks.onLog?.(`pulled image ${image}`);
  }

  async stop(handle: string, graceSeconds: number): Promise<void> {
    try {
      // Docker sends the stop signal, waits `t` seconds, then kills.
      await this.docker.getContainer(handle).stop({ t: Math.max(0, Math.round(graceSeconds)) });
    } catch (err) {
      // 304: already stopped; 404: already gone. Both are a stopped engine.
      const code = statusCode(err);
      if (code === 304 || code === 404) return;
      throw new DockerRuntimeError(`cannot stop container ${handle}: ${dockerMessage(err)}`, {
        cause: err,
      });
    }
  }

  async remove(handle: string): Promise<void> {
    try {
      // `v` removes the container's anonymous volumes (an image's VOLUME), which would
      // otherwise pile up with every restart; named volumes, such as the shared model
      // cache, are never removed with a container.
      await this.docker.getContainer(handle).remove({ force: true, v: true });
    } catch (err) {
      const code = statusCode(err);
      // 404: gone; 409: removal already in progress.
      if (code === 404 || code === 409) return;
      throw new DockerRuntimeError(`cannot remove container ${handle}: ${dockerMessage(err)}`, {
        cause: err,
      });
    }
  }

  async inspect(handle: string): Promise<EngineStatus | undefined> {
    const info = await this.inspectContainer(handle);
    if (!info) return undefined;
    return statusOf({
      id: info.Id,
      labels: info.Config.Labels ?? {},
      running: info.State.Running,
      exitCode: info.State.ExitCode,
    });
  }

  async list(nodeId: string): Promise<EngineStatus[]> {
    const containers = await this.docker.listContainers({
      all: true,
      filters: { label: [`${LABELS.managed}=true`, `${LABELS.nodeId}=${nodeId}`] },
    });
    return containers.map((c) => {
      const facts = { id: c.Id, labels: c.Labels, running: c.State === 'running' };
      const exitCode = exitCodeFromStatusText(c.Status);
      return statusOf(exitCode === undefined ? facts : { ...facts, exitCode });
    });
  }

  async logs(handle: string, tail: number): Promise<string[]> {
    if (tail <= 0) return [];
    try {
      const buf = await this.docker
        .getContainer(handle)
        .logs({ stdout: true, stderr: true, follow: false, tail });
      return logLines(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf)), tail);
    } catch (err) {
      if (statusCode(err) === 404) return [];
      throw new DockerRuntimeError(`cannot read logs of ${handle}: ${dockerMessage(err)}`, {
        cause: err,
      });
    }
  }

  async followLogs(
    handle: string,
    tail: number,
    onLine: (line: string) => void,
    signal: AbortSignal,
  ): Promise<void> {
    if (signal.aborted) return;
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker
        .getContainer(handle)
        .logs({ stdout: true, stderr: true, follow: true, tail, abortSignal: signal });
    } catch (err) {
      if (signal.aborted || statusCode(err) === 404) return;
      throw new DockerRuntimeError(`cannot follow logs of ${handle}: ${dockerMessage(err)}`, {
        cause: err,
      });
    }
    const decoder = createLogLineDecoder(onLine, LOG_LINE_MAX_BYTES);
    await new Promise<void>((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', abort);
        resolve();
      };
      // Docker's follow stream ends when the container stops; a hang-up ends it here.
      const abort = () => {
        const destroy = (stream as { destroy?: () => void }).destroy;
        destroy?.call(stream);
        done();
      };
      signal.addEventListener('abort', abort, { once: true });
      stream.on('data', (chunk: Buffer | string) =>
        decoder.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk)),
      );
      stream.on('end', () => {
        decoder.end();
        done();
      });
      stream.on('error', done);
    });
  }

  private async inspectContainer(
    idOrName: string,
  ): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      return await this.docker.getContainer(idOrName).inspect();
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  private async requireStatus(id: string): Promise<EngineStatus> {
    const status = await this.inspect(id);
    if (!status) throw new DockerRuntimeError(`container ${id} vanished right after start`);
    return status;
  }
}
