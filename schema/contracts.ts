// Wire contracts between the gateway and the gpu-node daemon. Both sides import this
// module (and nothing else of each other): zod schemas validate what arrives, and the
// inferred types describe what is sent.
import { z } from 'zod';
import { NODE_MODES } from './tunnel.ts';

export const DAEMON_PROTOCOL_VERSION = 1;

export const RECIPE_NAMES = ['vllm', 'sglang', 'ollama', 'llamacpp', 'sim', 'external'] as const;
export const RecipeNameSchema = z.enum(RECIPE_NAMES);
export type RecipeName = z.infer<typeof RecipeNameSchema>;

// Lifecycle of one deployment instance on a node (README.md, "Concepts").
export const INSTANCE_STATES = [
  'pending',
  'pulling',
  'starting',
  'ready',
  'failed',
  'stopped',
] as const;
export const InstanceStateSchema = z.enum(INSTANCE_STATES);
export type InstanceState = z.infer<typeof InstanceStateSchema>;

// How the gateway spreads a deployment's requests over its ready instances (README,
// "Routing"): prefix-cache affinity with bounded load (the default), least outstanding
// work, or plain rotation.
export const ROUTING_POLICIES = ['prefix', 'least_load', 'round_robin'] as const;
export const RoutingPolicySchema = z.enum(ROUTING_POLICIES);
export type RoutingPolicy = z.infer<typeof RoutingPolicySchema>;
export const DEFAULT_ROUTING_POLICY: RoutingPolicy = 'prefix';

export const GpuInfoSchema = z.object({
  index: z.number().int().nonnegative(),
  uuid: z.string().max(128).optional(),
  name: z.string().max(256),
  memory_total_mib: z.number().nonnegative(),
  memory_used_mib: z.number().nonnegative().optional(),
  utilization_pct: z.number().min(0).max(100).optional(),
  temperature_c: z.number().optional(),
  power_w: z.number().optional(),
});
export type GpuInfo = z.infer<typeof GpuInfoSchema>;

// Where a deployment's replicas may run: a given node, or (no node_id) any online node
// with enough free GPUs for the recipe's `gpus` option.
export const DeploymentPlacementSchema = z
  .object({
    node_id: z.string().min(1).max(64).optional(),
  })
  .strict();
export type DeploymentPlacement = z.infer<typeof DeploymentPlacementSchema>;

// Engine figures mapped from each engine's own metric names onto one set.
export const EngineMetricsSchema = z.object({
  requests_running: z.number().nonnegative().optional(),
  requests_waiting: z.number().nonnegative().optional(),
  // 0..1
  kv_cache_usage: z.number().min(0).max(1).optional(),
  prefix_cache_hit_rate: z.number().min(0).max(1).optional(),
  prompt_tokens_total: z.number().nonnegative().optional(),
  generation_tokens_total: z.number().nonnegative().optional(),
});
export type EngineMetrics = z.infer<typeof EngineMetricsSchema>;

const url = z
  .string()
  .max(2048)
  .refine((s) => /^https?:\/\//.test(s) && URL.canParse(s), 'must be an http(s) URL');

export const RegisterRequestSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash and underscore only'),
    // Where the gateway reaches the daemon (direct mode); absent in tunnel mode.
    advertise_url: url.optional(),
    // direct: the gateway connects to advertise_url; tunnel: the daemon dials out to
    // /node/v1/tunnel and the gateway sends requests through that socket (schema/tunnel.ts).
    mode: z.enum(NODE_MODES).default('direct'),
    gpus: z.array(GpuInfoSchema).max(64),
    daemon_version: z.string().min(1).max(64),
    protocol_version: z.number().int().default(DAEMON_PROTOCOL_VERSION),
  })
  .superRefine((body, ctx) => {
    if (body.mode === 'direct' && body.advertise_url === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['advertise_url'],
        message: 'required in direct mode (or register with mode "tunnel")',
      });
    }
  });
export type RegisterRequest = z.input<typeof RegisterRequestSchema>;

// JSON Web Key Set of the gateway's public signing keys.
export const JwksSchema = z.object({
  keys: z.array(z.record(z.string(), z.unknown())).min(1),
});
export type Jwks = z.infer<typeof JwksSchema>;

// The node's own data-plane key: 256 bits (base64url, unpadded) that the gateway derives for
// this node from its signing key and signs HS256 data-plane tokens with (README, "GPU
// nodes"), identified by the signing key's kid. Sent only over the control plane, to the
// node it belongs to; a secret like the node secret, never logged nor shown.
export const DATA_PLANE_KEY_BYTES = 32;
export const DataPlaneKeySchema = z.object({
  kid: z.string().min(1).max(256),
  key: z
    .string()
    .length(Math.ceil((DATA_PLANE_KEY_BYTES * 4) / 3))
    .regex(/^[A-Za-z0-9_-]+$/, 'must be base64url without padding'),
});
export type DataPlaneKey = z.infer<typeof DataPlaneKeySchema>;

export const RegisterResponseSchema = z.object({
  node_id: z.string(),
  // Shown once; the gateway stores only its hash.
  node_secret: z.string(),
  jwks: JwksSchema,
  heartbeat_interval_s: z.number().positive(),
  // The issuer the node must expect in data-plane JWTs.
  issuer: z.string(),
  // Absent from gateways older than HS256 data-plane tokens.
  data_plane_key: DataPlaneKeySchema.optional(),
});
export type RegisterResponse = z.infer<typeof RegisterResponseSchema>;

export const PullProgressSchema = z.object({
  bytes: z.number().nonnegative(),
  total_bytes: z.number().nonnegative().optional(),
  percent: z.number().min(0).max(100).optional(),
});

export const InstanceStatusSchema = z.object({
  instance_id: z.string().min(1).max(64),
  deployment_id: z.string().min(1).max(64),
  state: InstanceStateSchema,
  detail: z.string().max(2000).optional(),
  progress: PullProgressSchema.optional(),
  gpu_indices: z.array(z.number().int().nonnegative()).max(64).default([]),
  in_flight: z.number().int().nonnegative().default(0),
  restarts: z.number().int().nonnegative().default(0),
  metrics: EngineMetricsSchema.optional(),
});
export type InstanceStatus = z.input<typeof InstanceStatusSchema>;

export const HeartbeatRequestSchema = z.object({
  daemon_version: z.string().min(1).max(64),
  gpus: z.array(GpuInfoSchema).max(64),
  free_gpu_indices: z.array(z.number().int().nonnegative()).max(64).default([]),
  instances: z.array(InstanceStatusSchema).max(256),
  in_flight: z.number().int().nonnegative(),
  queued: z.number().int().nonnegative(),
  // The kid of the data-plane key the node holds (absent: none, or a daemon older than HS256
  // tokens). The gateway signs HS256 tokens for the node only while this names its current
  // key, and ES256 tokens otherwise, which every daemon accepts.
  data_plane_key_id: z.string().min(1).max(256).optional(),
});
export type HeartbeatRequest = z.input<typeof HeartbeatRequestSchema>;

// One instance the gateway wants the node to run.
export const DesiredInstanceSchema = z.object({
  instance_id: z.string(),
  deployment_id: z.string(),
  // The model name clients use; engines are started to serve it under this name.
  model: z.string(),
  recipe: RecipeNameSchema,
  options: z.record(z.string(), z.unknown()),
  // How many GPUs the node must give this instance (the node picks which).
  gpus: z.number().int().nonnegative(),
});
export type DesiredInstance = z.infer<typeof DesiredInstanceSchema>;

export const HeartbeatResponseSchema = z.object({
  node_id: z.string(),
  desired: z.array(DesiredInstanceSchema),
  heartbeat_interval_s: z.number().positive(),
  // Sent on every answer so a key rotation reaches nodes without re-registration.
  jwks: JwksSchema,
  // Likewise (absent from older gateways).
  data_plane_key: DataPlaneKeySchema.optional(),
});
export type HeartbeatResponse = z.infer<typeof HeartbeatResponseSchema>;

// Claims of the JWT the gateway signs for every forwarded request: HS256 with the node's own
// data-plane key once the node's heartbeat says it holds the current one, ES256 with the
// gateway's signing key (JWKS) otherwise. The header names the signing key's kid either way.
export const DATA_PLANE_JWT_ISSUER = 'fleetgate-gateway';
export const DATA_PLANE_JWT_MAX_TTL_S = 60;

// What a data-plane token allows on the node, bound to method and path: `inference` a
// POST under /v1/ (what the gateway forwards), `logs` a GET of the instance's logs. A node
// also accepts each token once: the gateway signs one token per request id and instance
// (a retry goes to another instance), so jti and instance identify it.
export const DATA_PLANE_SCOPES = ['inference', 'logs'] as const;
export type DataPlaneScope = (typeof DATA_PLANE_SCOPES)[number];
export const NODE_LOGS_PATH = /^\/fleetgate\/v1\/instances\/([^/]+)\/logs$/;

// The scope a request to the node needs; undefined for a request no token allows.
export function dataPlaneScopeOf(method: string, path: string): DataPlaneScope | undefined {
  if (method === 'POST' && path.startsWith('/v1/')) return 'inference';
  if (method === 'GET' && NODE_LOGS_PATH.test(path)) return 'logs';
  return undefined;
}

export const DataPlaneClaimsSchema = z.object({
  iss: z.literal(DATA_PLANE_JWT_ISSUER),
  aud: z.string(), // node id
  exp: z.number(),
  iat: z.number(),
  jti: z.string(), // request id
  instance: z.string(), // which deployment instance on the node serves this request
  model: z.string(),
  scope: z.enum(DATA_PLANE_SCOPES),
});
export type DataPlaneClaims = z.infer<typeof DataPlaneClaimsSchema>;

// Request bodies. The gateway accepts a client's body up to FLEETGATE_MAX_BODY_BYTES (at
// most GATEWAY_MAX_BODY_BYTES_CEILING) and forwards it re-serialised (JSON.stringify), which
// can make it longer: a number is written in full (`1e20,` is 5 bytes, its 21 digits and
// the comma 22) and an invalid UTF-8 byte becomes U+FFFD (3 bytes); nothing else grows, and
// a stream adds `"stream_options":{"include_usage":true}`. So a forwarded body is at most
// FORWARDED_BODY_GROWTH times the client's plus FORWARDED_BODY_EXTRA_BYTES, and a node
// accepts (by default) whatever the gateway can forward.
export const GATEWAY_MAX_BODY_BYTES_CEILING = 64 * 1024 * 1024;
export const FORWARDED_BODY_GROWTH = 4.4;
export const FORWARDED_BODY_EXTRA_BYTES = 64;
export const NODE_MAX_BODY_BYTES = 5 * GATEWAY_MAX_BODY_BYTES_CEILING;

// Engine logs (GET /fleetgate/v1/instances/{id}/logs?tail=N on the node, read by the
// gateway's admin API): both sides accept a tail of 1 to LOG_TAIL_MAX_LINES lines, and the
// node keeps its JSON answer within LOG_ANSWER_MAX_BYTES (the oldest lines go first), which
// is what the gateway reads at most.
export const LOG_TAIL_DEFAULT_LINES = 100;
export const LOG_TAIL_MAX_LINES = 10_000;
export const LOG_ANSWER_MAX_BYTES = 8 * 1024 * 1024;

// Followed logs (the same path with &follow=true): the node answers application/x-ndjson,
// one `{"line": "..."}` object per engine line, the tail first, then each new line as the
// engine prints it, until the engine stops or the gateway hangs up. A line longer than
// LOG_LINE_MAX_BYTES is cut to it (the gateway refuses longer NDJSON records); a node
// serves at most LOG_FOLLOW_MAX_STREAMS follows at once (more: 503).
export const LOG_LINE_MAX_BYTES = 16 * 1024;
export const LOG_FOLLOW_MAX_STREAMS = 32;
export const LogFollowRecordSchema = z.object({ line: z.string() });

// Header names shared by both sides.
export const REQUEST_ID_HEADER = 'x-request-id';
