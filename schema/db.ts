// The one database schema of the gateway. drizzle-kit generates the SQL migrations in
// schema/migrations from this file; the same migrations serve libSQL and D1.
// Times are unix milliseconds (integer) so both drivers agree on them.
import { sql } from 'drizzle-orm';
import { index, integer, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import type {
  DeploymentPlacement,
  GpuInfo,
  InstanceState,
  RecipeName,
  RoutingPolicy,
} from './contracts.ts';

const now = sql`(cast(unixepoch('subsecond') * 1000 as integer))`;

export const apiKeys = sqliteTable(
  'api_keys',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    // SHA-256 (hex) of the whole secret; the secret itself is never stored.
    keyHash: text('key_hash').notNull(),
    // First characters of the secret, shown in listings so an operator can tell keys apart.
    prefix: text('prefix').notNull(),
    // null: every model; otherwise the model names this key may call.
    models: text('models', { mode: 'json' }).$type<string[] | null>(),
    expiresAt: integer('expires_at'),
    disabled: integer('disabled', { mode: 'boolean' }).notNull().default(false),
    // Optional limits; null means unlimited.
    rpmLimit: integer('rpm_limit'),
    tpmLimit: integer('tpm_limit'),
    maxConcurrent: integer('max_concurrent'),
    // Budgets per calendar period in UTC (budget_period: day | week | month | total).
    tokenBudget: integer('token_budget'),
    spendBudgetUsd: real('spend_budget_usd'),
    budgetPeriod: text('budget_period').$type<'day' | 'week' | 'month' | 'total'>(),
    createdAt: integer('created_at').notNull().default(now),
    lastUsedAt: integer('last_used_at'),
  },
  (t) => [uniqueIndex('api_keys_key_hash').on(t.keyHash)],
);

export const registrationTokens = sqliteTable(
  'registration_tokens',
  {
    id: text('id').primaryKey(),
    name: text('name'),
    tokenHash: text('token_hash').notNull(),
    prefix: text('prefix').notNull(),
    expiresAt: integer('expires_at').notNull(),
    maxUses: integer('max_uses').notNull().default(1),
    uses: integer('uses').notNull().default(0),
    createdAt: integer('created_at').notNull().default(now),
  },
  (t) => [uniqueIndex('registration_tokens_token_hash').on(t.tokenHash)],
);

export const nodes = sqliteTable(
  'nodes',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    advertiseUrl: text('advertise_url').notNull(),
    secretHash: text('secret_hash').notNull(),
    daemonVersion: text('daemon_version').notNull(),
    gpus: text('gpus', { mode: 'json' }).$type<GpuInfo[]>().notNull(),
    // The last heartbeat's load figures (in-flight, queued, free GPUs), as reported.
    stats: text('stats', { mode: 'json' }).$type<Record<string, unknown> | null>(),
    registrationTokenId: text('registration_token_id'),
    createdAt: integer('created_at').notNull().default(now),
    lastHeartbeatAt: integer('last_heartbeat_at'),
  },
  // Names are unique: the admin API and the CLI show nodes by name.
  (t) => [uniqueIndex('nodes_secret_hash').on(t.secretHash), uniqueIndex('nodes_name').on(t.name)],
);

export const deployments = sqliteTable(
  'deployments',
  {
    id: text('id').primaryKey(),
    // The model name clients send in `model`.
    model: text('model').notNull(),
    recipe: text('recipe').$type<RecipeName>().notNull(),
    options: text('options', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
    placement: text('placement', { mode: 'json' }).$type<DeploymentPlacement>().notNull(),
    replicas: integer('replicas').notNull().default(1),
    // How requests are spread over the instances (contracts.ts ROUTING_POLICIES).
    routing: text('routing').$type<RoutingPolicy>().notNull().default('prefix'),
    createdAt: integer('created_at').notNull().default(now),
    updatedAt: integer('updated_at').notNull().default(now),
  },
  (t) => [index('deployments_model').on(t.model)],
);

export const deploymentInstances = sqliteTable(
  'deployment_instances',
  {
    id: text('id').primaryKey(),
    deploymentId: text('deployment_id')
      .notNull()
      .references(() => deployments.id, { onDelete: 'cascade' }),
    nodeId: text('node_id')
      .notNull()
      .references(() => nodes.id, { onDelete: 'cascade' }),
    replica: integer('replica').notNull(),
    state: text('state').$type<InstanceState>().notNull().default('pending'),
    // Free text from the node (failure reason, pull progress).
    detail: text('detail'),
    gpuIndices: text('gpu_indices', { mode: 'json' }).$type<number[]>(),
    // Engine metrics as last reported (running, waiting, KV-cache use).
    metrics: text('metrics', { mode: 'json' }).$type<Record<string, number> | null>(),
    updatedAt: integer('updated_at').notNull().default(now),
  },
  (t) => [
    uniqueIndex('deployment_instances_replica').on(t.deploymentId, t.replica),
    index('deployment_instances_node').on(t.nodeId),
  ],
);

export const usageEvents = sqliteTable(
  'usage_events',
  {
    // The gateway's own request id (sent to the client as x-request-id, to the node as the
    // JWT's jti); never one a client chose.
    id: text('id').primaryKey(),
    // The id the client sent (x-client-request-id or x-request-id), kept for correlation
    // only: several rows may share it.
    clientRequestId: text('client_request_id'),
    keyId: text('key_id'),
    model: text('model'),
    endpoint: text('endpoint').notNull(),
    nodeId: text('node_id'),
    instanceId: text('instance_id'),
    stream: integer('stream', { mode: 'boolean' }).notNull().default(false),
    // HTTP status sent to the client (200 even when a stream later failed).
    status: integer('status').notNull(),
    // ok | error | client_aborted | upstream_error
    outcome: text('outcome').notNull(),
    errorCode: text('error_code'),
    promptTokens: integer('prompt_tokens').notNull().default(0),
    completionTokens: integer('completion_tokens').notNull().default(0),
    totalTokens: integer('total_tokens').notNull().default(0),
    latencyMs: integer('latency_ms').notNull(),
    ttftMs: integer('ttft_ms'),
    // US dollars at the model's price when the request finished (0 for an unpriced model).
    spendUsd: real('spend_usd').notNull().default(0),
    // Images generated (/v1/images/generations): the answer's `data` entries.
    images: integer('images').notNull().default(0),
    // Seconds of audio transcribed or translated, when the engine reported them.
    audioSeconds: real('audio_seconds').notNull().default(0),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [
    index('usage_events_created').on(t.createdAt),
    index('usage_events_key').on(t.keyId, t.createdAt),
  ],
);

// Prices per model, in US dollars per million tokens; a model without a row costs 0.
export const modelPrices = sqliteTable('model_prices', {
  model: text('model').primaryKey(),
  inputUsdPerMtok: real('input_usd_per_mtok').notNull(),
  outputUsdPerMtok: real('output_usd_per_mtok').notNull(),
  // US dollars per generated image, on top of any token price; null: images cost nothing.
  usdPerImage: real('usd_per_image'),
  updatedAt: integer('updated_at').notNull().default(now),
});

// Small key/value store for host state, e.g. the Node host's generated signing key.
export const settings = sqliteTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
  updatedAt: integer('updated_at').notNull().default(now),
});

// Operators of the console: a username, a password (only its PBKDF2 hash, in a
// self-describing string so its parameters can be raised later) and a role.
export const adminUsers = sqliteTable(
  'admin_users',
  {
    id: text('id').primaryKey(),
    // Stored as given; unique regardless of case, so 'Alice' and 'alice' are one user.
    username: text('username').notNull(),
    passwordHash: text('password_hash').notNull(),
    role: text('role').$type<'admin' | 'viewer'>().notNull(),
    createdAt: integer('created_at').notNull().default(now),
  },
  (t) => [uniqueIndex('admin_users_username').on(sql`lower(${t.username})`)],
);

// Sessions ended before their expiry (logout, a deleted user's sessions are refused by the
// user lookup instead). Rows past their expiry are deleted as new ones arrive.
export const revokedSessions = sqliteTable(
  'revoked_sessions',
  {
    sid: text('sid').primaryKey(),
    expiresAt: integer('expires_at').notNull(),
  },
  (t) => [index('revoked_sessions_expires').on(t.expiresAt)],
);

// Failed logins per throttle key ('user:<name>' or 'addr:<client address>') in a fixed
// window; kept in the database so every replica and isolate counts the same failures.
export const loginFailures = sqliteTable(
  'login_failures',
  {
    key: text('key').primaryKey(),
    failures: integer('failures').notNull(),
    windowStart: integer('window_start').notNull(),
  },
  (t) => [index('login_failures_window').on(t.windowStart)],
);

// Every admin mutation: who, what, when, from where, and how it ended.
export const auditLog = sqliteTable(
  'audit_log',
  {
    // Increasing, so pages are read with `before=<id>`.
    id: integer('id').primaryKey({ autoIncrement: true }),
    createdAt: integer('created_at').notNull(),
    // 'user' | 'admin-token' | 'anonymous' (a login that failed).
    actorKind: text('actor_kind').$type<'user' | 'admin-token' | 'anonymous'>().notNull(),
    actorId: text('actor_id'),
    actorName: text('actor_name'),
    method: text('method').notNull(),
    // The route's pattern (/admin/v1/keys/:id), never the raw path.
    route: text('route').notNull(),
    resourceId: text('resource_id'),
    status: integer('status').notNull(),
    clientAddress: text('client_address'),
    requestId: text('request_id').notNull(),
  },
  (t) => [index('audit_log_created').on(t.createdAt)],
);
