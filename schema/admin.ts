// Response contracts of the admin API (/admin/v1), beside the node contracts: the gateway's
// handlers answer these shapes, the CLI parses what it receives with them, and the tests
// check every answer against them. Times are unix seconds, like OpenAI's `created`.
//
// Objects strip keys they do not name (zod's default) so that a CLI keeps working against a
// newer gateway that adds a field; tests check that nothing was stripped (an answer holds
// exactly the contract's fields), so a leaked hash or secret fails them.
import { z } from 'zod';
import {
  DeploymentPlacementSchema,
  GpuInfoSchema,
  InstanceStateSchema,
  RecipeNameSchema,
  RoutingPolicySchema,
} from './contracts.ts';
import { NODE_MODES } from './tunnel.ts';

const unixSeconds = z.number().int().describe('unix seconds');

// The error body of every fleetgate API (OpenAI's shape).
export const ErrorBodySchema = z.object({
  error: z.object({
    message: z.string(),
    type: z.string(),
    param: z.string().nullable(),
    code: z.string().nullable(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

// `{ object: 'list', data: [...] }`, as OpenAI lists things.
export const listOf = <T extends z.ZodType>(item: T) =>
  z.object({ object: z.literal('list'), data: z.array(item) });
export interface List<T> {
  object: 'list';
  data: T[];
}

// What DELETE answers: the id, the kind of object, and `deleted: true`.
export const deletedOf = <O extends string>(object: O) =>
  z.object({ id: z.string(), object: z.literal(object), deleted: z.literal(true) });

// --- API keys ---------------------------------------------------------------------------

export const BUDGET_PERIODS = ['day', 'week', 'month', 'total'] as const;

// A key's limits; null: unlimited. Budgets count per calendar period in UTC.
export const KeyLimitsSchema = z.object({
  requests_per_minute: z.number().int().positive().nullable(),
  tokens_per_minute: z.number().int().positive().nullable(),
  max_concurrent_requests: z.number().int().positive().nullable(),
  token_budget: z.number().int().positive().nullable(),
  spend_budget_usd: z.number().positive().nullable(),
  budget_period: z.enum(BUDGET_PERIODS).nullable(),
});
export type KeyLimits = z.infer<typeof KeyLimitsSchema>;

const BudgetSchema = z.object({
  limit: z.number(),
  used: z.number(),
  // Held by requests still running.
  reserved: z.number(),
  remaining: z.number(),
  resets_at: unixSeconds.nullable(),
});

const RateSchema = z.object({
  limit: z.number().int(),
  remaining: z.number().int(),
  // OpenAI's duration format: `120ms`, `1s`, `6m0s`.
  reset: z.string(),
});

// A key's standing in its budget period (the period of budget_period, else the month):
// what it used, what remains, when each limit resets.
export const KeyStandingSchema = z.object({
  period: z.object({
    name: z.enum(BUDGET_PERIODS),
    start: unixSeconds,
    // null for `total`.
    end: unixSeconds.nullable(),
  }),
  used: z.object({
    requests: z.number().int().nonnegative(),
    tokens: z.number().int().nonnegative(),
    spend_usd: z.number().nonnegative(),
  }),
  in_flight: z.number().int().nonnegative(),
  token_budget: BudgetSchema.nullable(),
  spend_budget_usd: BudgetSchema.nullable(),
  requests_per_minute: RateSchema.nullable(),
  tokens_per_minute: RateSchema.nullable(),
  as_of: unixSeconds,
});
export type KeyStanding = z.infer<typeof KeyStandingSchema>;

export const ApiKeySchema = z.object({
  id: z.string(),
  object: z.literal('api_key'),
  name: z.string(),
  // The first characters of the secret, to recognise a key; never enough to use it.
  prefix: z.string(),
  // null: every model.
  models: z.array(z.string()).nullable(),
  expires_at: unixSeconds.nullable(),
  disabled: z.boolean(),
  limits: KeyLimitsSchema,
  created_at: unixSeconds,
  last_used_at: unixSeconds.nullable(),
});
export type ApiKey = z.infer<typeof ApiKeySchema>;

// GET /keys/{id}: the key and its standing.
export const ApiKeyDetailSchema = ApiKeySchema.extend(KeyStandingSchema.shape);
export type ApiKeyDetail = z.infer<typeof ApiKeyDetailSchema>;

// GET /v1/key (the OpenAI API, with the key itself): what its holder may see.
export const OwnKeySchema = ApiKeySchema.pick({
  id: true,
  object: true,
  name: true,
  models: true,
  limits: true,
}).extend(KeyStandingSchema.shape);
export type OwnKey = z.infer<typeof OwnKeySchema>;

// --- prices -----------------------------------------------------------------------------

export const ModelPriceSchema = z.object({
  model: z.string(),
  object: z.literal('model_price'),
  input_usd_per_mtok: z.number().nonnegative(),
  output_usd_per_mtok: z.number().nonnegative(),
  // US dollars per generated image; null: images cost only their tokens.
  usd_per_image: z.number().nonnegative().nullable(),
  updated_at: unixSeconds,
});
export type ModelPrice = z.infer<typeof ModelPriceSchema>;
export const ModelPriceListSchema = listOf(ModelPriceSchema);
export const DeletedModelPriceSchema = z.object({
  model: z.string(),
  object: z.literal('model_price'),
  deleted: z.literal(true),
});

// The answer to creating a key: the only one that holds its secret.
export const CreatedApiKeySchema = ApiKeySchema.extend({ key: z.string() });
export type CreatedApiKey = z.infer<typeof CreatedApiKeySchema>;

export const ApiKeyListSchema = listOf(ApiKeySchema);
export const DeletedApiKeySchema = deletedOf('api_key');

// --- registration tokens ----------------------------------------------------------------

export const RegistrationTokenSchema = z.object({
  id: z.string(),
  object: z.literal('registration_token'),
  name: z.string().nullable(),
  prefix: z.string(),
  uses: z.number().int().nonnegative(),
  max_uses: z.number().int().positive(),
  expires_at: unixSeconds,
  created_at: unixSeconds,
});
export type RegistrationToken = z.infer<typeof RegistrationTokenSchema>;

export const CreatedRegistrationTokenSchema = RegistrationTokenSchema.extend({
  token: z.string(),
});
export type CreatedRegistrationToken = z.infer<typeof CreatedRegistrationTokenSchema>;

export const RegistrationTokenListSchema = listOf(RegistrationTokenSchema);
export const DeletedRegistrationTokenSchema = deletedOf('registration_token');

// --- deployment instances (inside deployments and nodes) --------------------------------

export const InstanceSchema = z.object({
  id: z.string(),
  object: z.literal('deployment.instance'),
  deployment_id: z.string(),
  model: z.string(),
  node_id: z.string(),
  replica: z.number().int().nonnegative(),
  state: InstanceStateSchema,
  // What the node last said about it (an error, pull progress).
  detail: z.string().nullable(),
  gpu_indices: z.array(z.number().int().nonnegative()),
  metrics: z.record(z.string(), z.number()).nullable(),
  updated_at: unixSeconds,
});
export type Instance = z.infer<typeof InstanceSchema>;

// What the gateway process that answered sees of an instance (each replica, or Worker
// isolate, has its own view): its requests in flight there and its circuit breaker.
export const InstanceGatewayViewSchema = z.object({
  in_flight: z.number().int().nonnegative(),
  // Recent time to first token of streamed answers (a moving average), ms.
  ttft_ms: z.number().int().nonnegative().nullable(),
  // closed: in rotation; open: out of rotation until retry_at; half_open: one trial request
  // is deciding.
  circuit: z.enum(['closed', 'open', 'half_open']),
  // Failed attempts since the last success (connection errors, 5xx, broken streams).
  consecutive_failures: z.number().int().nonnegative(),
  retry_at: unixSeconds.nullable(),
});

export const DeploymentInstanceSchema = InstanceSchema.extend({
  gateway: InstanceGatewayViewSchema,
});
export type DeploymentInstance = z.infer<typeof DeploymentInstanceSchema>;

// --- nodes ------------------------------------------------------------------------------

export const NodeSchema = z.object({
  id: z.string(),
  object: z.literal('node'),
  name: z.string(),
  // Where the gateway reaches the node; TUNNEL_ADVERTISE_URL ('tunnel:') in tunnel mode.
  advertise_url: z.string(),
  // direct: the gateway connects to advertise_url; tunnel: through the WebSocket the node
  // opened to the gateway (schema/tunnel.ts).
  mode: z.enum(NODE_MODES),
  // Tunnel mode: whether the node's tunnel is connected (on the Node host: to the replica
  // that answered); null in direct mode.
  tunnel_connected: z.boolean().nullable(),
  // online: a heartbeat within the last three intervals.
  status: z.enum(['online', 'offline']),
  daemon_version: z.string(),
  gpus: z.array(GpuInfoSchema),
  // The load the node last reported (in_flight, queued, free_gpu_indices).
  stats: z.record(z.string(), z.unknown()).nullable(),
  created_at: unixSeconds,
  last_heartbeat_at: unixSeconds.nullable(),
  instances: z.array(InstanceSchema),
});
export type Node = z.infer<typeof NodeSchema>;

export const NodeListSchema = listOf(NodeSchema);
export const DeletedNodeSchema = deletedOf('node');

// --- deployments ------------------------------------------------------------------------

export const DeploymentSchema = z.object({
  id: z.string(),
  object: z.literal('deployment'),
  model: z.string(),
  recipe: RecipeNameSchema,
  options: z.record(z.string(), z.unknown()),
  placement: DeploymentPlacementSchema,
  replicas: z.number().int().nonnegative(),
  // How requests are spread over the instances (README, "Routing").
  routing: RoutingPolicySchema,
  // From the recipe's options; null when the stored options no longer parse.
  gpus_per_replica: z.number().int().nonnegative().nullable(),
  // The OpenAI API paths this deployment serves, from its recipe and options
  // (schema/endpoints.ts); a request for another path is not routed to it.
  endpoints: z.array(z.string()),
  created_at: unixSeconds,
  updated_at: unixSeconds,
  instances: z.array(DeploymentInstanceSchema),
  // Replicas no node can take now, and why (e.g. "no online node has 1 free GPU; gpu-1: 0 of
  // 2 free, gpu-2: offline"), worked out from the fleet at the time of the answer; null
  // when every replica has a node.
  unplaced: z
    .object({ replicas: z.array(z.number().int().nonnegative()), reason: z.string() })
    .nullable(),
});
export type Deployment = z.infer<typeof DeploymentSchema>;

export const DeploymentListSchema = listOf(DeploymentSchema);
export const DeletedDeploymentSchema = deletedOf('deployment');

// GET /deployments/{id}/logs: the engine's last lines, read from the node that runs it.
export const DeploymentLogsSchema = z.object({
  object: z.literal('list'),
  deployment_id: z.string(),
  instance_id: z.string(),
  node_id: z.string(),
  data: z.array(z.string()),
});
export type DeploymentLogs = z.infer<typeof DeploymentLogsSchema>;

// --- usage ------------------------------------------------------------------------------

export const USAGE_GROUPS = ['key', 'model', 'node', 'day'] as const;
export const UsageGroupSchema = z.enum(USAGE_GROUPS);
export type UsageGroup = z.infer<typeof UsageGroupSchema>;

// One row of GET /usage: totals over the window, for one group (or all: group null).
export const UsageRowSchema = z.object({
  // The key id, model, node id or UTC day (YYYY-MM-DD); null without group_by.
  group: z.string().nullable(),
  requests: z.number().int().nonnegative(),
  // Refused by the gateway or failed upstream; a client that hung up is not an error.
  errors: z.number().int().nonnegative(),
  prompt_tokens: z.number().int().nonnegative(),
  completion_tokens: z.number().int().nonnegative(),
  total_tokens: z.number().int().nonnegative(),
  // US dollars at the prices in force when each request finished.
  spend_usd: z.number().nonnegative(),
  images: z.number().int().nonnegative(),
  audio_seconds: z.number().nonnegative(),
  avg_latency_ms: z.number().nullable(),
  avg_ttft_ms: z.number().nullable(),
});
export type UsageRow = z.infer<typeof UsageRowSchema>;

export const UsageSummarySchema = z.object({
  object: z.literal('list'),
  from: unixSeconds,
  to: unixSeconds,
  group_by: UsageGroupSchema.nullable(),
  data: z.array(UsageRowSchema),
});
export type UsageSummary = z.infer<typeof UsageSummarySchema>;

// One request as recorded (GET /usage/events); its id is the request id.
export const UsageEventSchema = z.object({
  id: z.string(),
  object: z.literal('usage_event'),
  // The id the client sent (x-client-request-id or x-request-id); several rows may share it.
  client_request_id: z.string().nullable(),
  key_id: z.string().nullable(),
  model: z.string().nullable(),
  endpoint: z.string(),
  node_id: z.string().nullable(),
  instance_id: z.string().nullable(),
  stream: z.boolean(),
  status: z.number().int(),
  // ok, error (refused by the gateway), upstream_error, client_aborted, ...
  outcome: z.string(),
  error_code: z.string().nullable(),
  prompt_tokens: z.number().int().nonnegative(),
  completion_tokens: z.number().int().nonnegative(),
  total_tokens: z.number().int().nonnegative(),
  latency_ms: z.number().int().nonnegative(),
  // Time to first token, for streams.
  ttft_ms: z.number().int().nonnegative().nullable(),
  spend_usd: z.number().nonnegative(),
  // Images generated; seconds of audio transcribed or translated (when the engine said).
  images: z.number().int().nonnegative(),
  audio_seconds: z.number().nonnegative(),
  created_at: unixSeconds,
});
export type UsageEvent = z.infer<typeof UsageEventSchema>;

export const UsageEventListSchema = listOf(UsageEventSchema);

// --- stats (GET /stats: the dashboard's charts) ----------------------------------------

// One time bucket of GET /stats. Rates divide by the part of the bucket that has passed
// (the last bucket is still filling). Percentiles are exact nearest-rank values over the
// bucket's streamed requests (those with a time to first token); null without any.
export const StatsBucketSchema = z.object({
  start_ms: z.number().int().describe('unix milliseconds'),
  requests: z.number().int().nonnegative(),
  // Refused by the gateway or failed upstream, as in GET /usage.
  errors: z.number().int().nonnegative(),
  prompt_tokens: z.number().int().nonnegative(),
  completion_tokens: z.number().int().nonnegative(),
  requests_per_s: z.number().nonnegative(),
  errors_per_s: z.number().nonnegative(),
  // Prompt and completion tokens together.
  tokens_per_s: z.number().nonnegative(),
  ttft_samples: z.number().int().nonnegative(),
  ttft_p50_ms: z.number().int().nonnegative().nullable(),
  ttft_p99_ms: z.number().int().nonnegative().nullable(),
});
export type StatsBucket = z.infer<typeof StatsBucketSchema>;

export const UsageStatsSchema = z.object({
  object: z.literal('stats'),
  // The window [since_ms, until_ms): since is rounded down to a bucket boundary.
  since_ms: z.number().int(),
  until_ms: z.number().int(),
  bucket_s: z.number().int().positive(),
  // Every bucket of the window, oldest first, empty ones included.
  data: z.array(StatsBucketSchema),
});
export type UsageStats = z.infer<typeof UsageStatsSchema>;

// --- console users, sessions, audit log ------------------------------------------------

export const ADMIN_ROLES = ['admin', 'viewer'] as const;
export const AdminRoleSchema = z.enum(ADMIN_ROLES);

// A console user; the password is never answered, not even its hash.
export const AdminUserSchema = z.object({
  id: z.string(),
  object: z.literal('admin_user'),
  username: z.string(),
  role: AdminRoleSchema,
  created_at: unixSeconds,
});
export type AdminUser = z.infer<typeof AdminUserSchema>;
export const AdminUserListSchema = listOf(AdminUserSchema);
export const DeletedAdminUserSchema = deletedOf('admin_user');

// POST and GET /admin/v1/session: who is signed in, the CSRF token that every change made
// with the cookie must send in x-csrf-token, and when the session ends.
export const SessionSchema = z.object({
  user: z.object({ id: z.string(), username: z.string(), role: AdminRoleSchema }),
  csrf_token: z.string(),
  expires_at: z.number().int().describe('unix milliseconds'),
});
export type Session = z.infer<typeof SessionSchema>;

// One admin mutation. actor: 'admin-token', a user, or 'anonymous' (a login that failed,
// with the username it tried in actor_name).
export const AuditEntrySchema = z.object({
  id: z.number().int(),
  object: z.literal('audit_entry'),
  created_at: z.number().int().describe('unix milliseconds'),
  actor: z.enum(['admin-token', 'user', 'anonymous']),
  actor_id: z.string().nullable(),
  actor_name: z.string().nullable(),
  method: z.string(),
  // The route's pattern, e.g. /admin/v1/keys/:id.
  route: z.string(),
  resource_id: z.string().nullable(),
  status: z.number().int(),
  client_address: z.string().nullable(),
  request_id: z.string(),
});
export type AuditEntry = z.infer<typeof AuditEntrySchema>;
// Newest first; the next page is ?before=<the last entry's id> while has_more.
export const AuditLogPageSchema = z.object({
  object: z.literal('list'),
  data: z.array(AuditEntrySchema),
  has_more: z.boolean(),
});
