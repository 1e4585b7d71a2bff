// The one interface the daemon drives engines through. `process` spawns a local command;
// `docker` runs a container through the Docker Engine API. Recipes produce an EngineSpec;
// a runtime turns it into a running engine and back.

export type RuntimeKind = 'process' | 'docker';

export interface VolumeMount {
  // Host path (process runtime: unused) or Docker named volume.
  source: string;
  target: string;
  readOnly?: boolean;
}

// Everything needed to run one engine instance, independent of the runtime.
export interface EngineSpec {
  instanceId: string;
  deploymentId: string;
  nodeId: string;
  // The model name clients use (served model name).
  model: string;
  // Docker image; the process runtime ignores it.
  image?: string;
  // Docker: overrides the image entrypoint when set.
  entrypoint?: string[];
  // Process runtime: argv (command[0] is the executable). Docker: the container's Cmd.
  command: string[];
  env: Record<string, string>;
  // The engine listens on 127.0.0.1:port (containers use the host network).
  port: number;
  // Path answering 200 once the engine can serve (e.g. /health).
  healthPath: string;
  // Engine's Prometheus metrics path, if it has one.
  metricsPath?: string;
  gpuIndices: number[];
  // Docker only.
  shmSizeBytes?: number;
  volumes?: VolumeMount[];
  cwd?: string;
  // Seconds between SIGTERM and SIGKILL on stop.
  stopGraceSeconds?: number;
  // Extra labels the runtime keeps with the engine and returns from list()/inspect()
  // (docker: container labels), e.g. a hash of the spec so that an adopted engine whose
  // options changed is replaced. Runtimes add their own dev.fleetgate.* labels besides these.
  labels?: Record<string, string>;
}

export interface PullProgress {
  bytes: number;
  totalBytes?: number;
  percent?: number;
}

export type EngineRunState = 'running' | 'exited';

export interface EngineStatus {
  // Runtime's own handle: a pid or a container id.
  handle: string;
  instanceId: string;
  deploymentId: string;
  state: EngineRunState;
  exitCode?: number;
  // What the engine was started with, so the daemon can adopt it after a restart
  // (docker: read back from the container's labels).
  port?: number;
  gpuIndices?: number[];
  labels?: Record<string, string>;
}

export interface StartHooks {
  // Image pull progress (docker); the daemon reports it as state `pulling`.
  onPullProgress?: (p: PullProgress) => void;
  onLog?: (line: string) => void;
}

export interface Runtime {
  readonly kind: RuntimeKind;
  // Starts the engine and returns once it is started (not necessarily healthy).
  start(spec: EngineSpec, hooks?: StartHooks, signal?: AbortSignal): Promise<EngineStatus>;
  // Graceful stop: SIGTERM, then SIGKILL after graceSeconds. Idempotent.
  stop(handle: string, graceSeconds: number): Promise<void>;
  // Removes what is left (container); a no-op for processes.
  remove(handle: string): Promise<void>;
  inspect(handle: string): Promise<EngineStatus | undefined>;
  // Engines of this node already running (e.g. after a daemon restart), for adoption.
  list(nodeId: string): Promise<EngineStatus[]>;
  // The last `tail` lines of the engine's output.
  logs(handle: string, tail: number): Promise<string[]>;
  // The last `tail` lines, then each new line as the engine prints it, until the engine
  // stops or `signal` aborts (then it resolves; it never rejects for an abort).
  followLogs(
    handle: string,
    tail: number,
    onLine: (line: string) => void,
    signal: AbortSignal,
  ): Promise<void>;
}
