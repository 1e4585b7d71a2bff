// The pure half of the docker runtime: an EngineSpec as Docker's create options, and a
// container (from inspect or list) back as an EngineStatus via its labels.
import type Docker from 'dockerode';
import type { EngineStatus } from '../types.ts';
import type { EngineSpec } from '../types.ts';

export const LABELS = {
  managed: 'dev.fleetgate.managed',
  nodeId: 'dev.fleetgate.node-id',
  deploymentId: 'dev.fleetgate.deployment-id',
  instanceId: 'dev.fleetgate.instance-id',
  model: 'dev.fleetgate.model',
  // What an adopting daemon needs to reach the engine and to account for its GPUs.
  port: 'dev.fleetgate.port',
  gpus: 'dev.fleetgate.gpus',
} as const;

export function containerName(instanceId: string): string {
  return `fleetgate-${instanceId}`;
}

// A host path is bind-mounted; anything else is a Docker named volume (created on first use).
export function isHostPath(source: string): boolean {
  return source.startsWith('/');
}

export function containerSpec(spec: EngineSpec): Docker.ContainerCreateOptions {
  if (!spec.image)
    throw new Error(`instance ${spec.instanceId}: the docker runtime needs an image`);
  const labels: Record<string, string> = {
    ...spec.labels,
    [LABELS.managed]: 'true',
    [LABELS.nodeId]: spec.nodeId,
    [LABELS.deploymentId]: spec.deploymentId,
    [LABELS.instanceId]: spec.instanceId,
    [LABELS.model]: spec.model,
    [LABELS.port]: String(spec.port),
    [LABELS.gpus]: spec.gpuIndices.join(','),
  };
  const hostConfig: Docker.HostConfig = {
    // The engine binds 127.0.0.1:<port> on the host: only the daemon's proxy reaches it,
    // and no port mapping or bridge network is needed.
    NetworkMode: 'host',
    Mounts: (spec.volumes ?? []).map((v) => ({
      Type: isHostPath(v.source) ? ('bind' as const) : ('volume' as const),
      Source: v.source,
      Target: v.target,
      ReadOnly: v.readOnly ?? false,
    })),
    // The daemon owns restarts (with back-off, reported as restarts to the gateway);
    // Docker restarting the container behind its back would hide crashes from it.
    RestartPolicy: { Name: 'no' },
    // Engines can be chatty; keep their logs bounded on the node's disk.
    LogConfig: { Type: 'json-file', Config: { 'max-size': '50m', 'max-file': '3' } },
  };
  if (spec.gpuIndices.length > 0) {
    hostConfig.DeviceRequests = [
      {
        Driver: 'nvidia',
        DeviceIDs: spec.gpuIndices.map(String),
        Capabilities: [['gpu']],
      },
    ];
  }
  if (spec.shmSizeBytes !== undefined) hostConfig.ShmSize = spec.shmSizeBytes;
  const options: Docker.ContainerCreateOptions = {
    name: containerName(spec.instanceId),
    Image: spec.image,
    Cmd: spec.command,
    Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
    Labels: labels,
    // Without a TTY the log stream keeps stdout and stderr apart (8-byte frame headers).
    Tty: false,
    HostConfig: hostConfig,
  };
  if (spec.entrypoint) options.Entrypoint = spec.entrypoint;
  if (spec.cwd) options.WorkingDir = spec.cwd;
  if (spec.stopGraceSeconds !== undefined) options.StopTimeout = spec.stopGraceSeconds;
  return options;
}

function parseGpus(value: string | undefined): number[] {
  if (!value) return [];
  return value
    .split(',')
    .map((s) => Number(s))
    .filter((n) => Number.isInteger(n) && n >= 0);
}

// The facts both inspect() and list() report, whichever shape Docker returned them in.
export interface ContainerFacts {
  id: string;
  labels: Record<string, string>;
  running: boolean;
  exitCode?: number;
}

export function statusOf(facts: ContainerFacts): EngineStatus {
  const labels = facts.labels;
  const status: EngineStatus = {
    handle: facts.id,
    instanceId: labels[LABELS.instanceId] ?? '',
    deploymentId: labels[LABELS.deploymentId] ?? '',
    state: facts.running ? 'running' : 'exited',
    gpuIndices: parseGpus(labels[LABELS.gpus]),
    labels: { ...labels },
  };
  const port = Number(labels[LABELS.port]);
  if (Number.isInteger(port) && port > 0) status.port = port;
  if (!facts.running && facts.exitCode !== undefined) status.exitCode = facts.exitCode;
  return status;
}

// `docker ps` reports an exit code only inside its status text: "Exited (137) 2 minutes ago".
export function exitCodeFromStatusText(text: string): number | undefined {
  const match = /^Exited \((-?\d+)\)/.exec(text);
  return match ? Number(match[1]) : undefined;
}

// Whether an existing container was made from this spec: same image and the same labels
// (the daemon's spec hash, the GPUs it holds). Only the port may differ: a restarted daemon
// picks a new one, and the adopted engine keeps listening on its own.
export function sameSpec(spec: EngineSpec, labels: Record<string, string>, image: string): boolean {
  if (spec.image !== image) return false;
  const wanted = containerSpec(spec).Labels ?? {};
  return Object.entries(wanted).every(([k, v]) => k === LABELS.port || labels[k] === v);
}
