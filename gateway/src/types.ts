// What the host gives the app (createApp(deps)) and what middleware puts on the context.
// Everything host-specific (database driver, usage writer, signing key, how nodes are
// reached) arrives here, so app code stays on Web-standard APIs.
import type { AccessLogFormat } from '../../schema/access-log.ts';
import type { DataPlaneScope, Jwks } from '../../schema/contracts.ts';
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import type { AdminPrincipal } from './console/principal.ts';
import type { AccessLogWriter } from './middleware/access-log.ts';
import type { KeyLimits } from './limits/arithmetic.ts';
import type { Limiter } from './limits/limiter.ts';
import type { DirectAnswer } from './proxy/relay-node.ts';
import type { Db } from './store/db.ts';
import type { UsageMeter } from './usage/meter.ts';

export type { AccessLogFormat };
export type ApiDocsAccess = 'admin' | 'public' | 'off';

export interface GatewayConfig {
  // Bearer token for /admin/v1 (compared in constant time).
  adminToken: string;
  // Request bodies larger than this are refused with 413. Default 1 MiB.
  maxBodyBytes: number;
  // The bound of an audio upload (streamed through, not held), in bytes. parseConfig's
  // default: 25 MiB (FLEETGATE_MAX_AUDIO_BYTES), OpenAI's own limit for audio files.
  maxAudioBytes?: number;
  // Nodes heartbeat this often; a node silent for 3 intervals is offline. Default 5.
  heartbeatIntervalS: number;
  // How long key lookups and the routing table are cached in memory. Default 2000 ms,
  // which bounds how long a revoked key can still be used on one host.
  cacheTtlMs: number;
  // Lifetime of the JWT signed for each forwarded request (<= 60 s).
  nodeJwtTtlS: number;
  // Node host: how long connecting to a node may take before the request moves to another
  // instance. parseConfig's default: 3000 ms (FLEETGATE_NODE_CONNECT_TIMEOUT_MS).
  nodeConnectTimeoutMs?: number;
  // The prefix policy's load bound: an instance takes a prefix's request while its load
  // stays within this factor of the average (1 + epsilon). parseConfig's default: 1.1
  // (FLEETGATE_ROUTING_LOAD_FACTOR).
  routingLoadFactor?: number;
  // One access-log line per request: JSON, text, or none. parseConfig's default: 'json'
  // (FLEETGATE_ACCESS_LOG); the host turns it into AppDeps.accessLog.
  accessLog?: AccessLogFormat;
  // Browser origins allowed to call /v1 (CORS), or '*' for any. Absent or empty: CORS off
  // (FLEETGATE_CORS_ORIGINS). Never applied to /admin/v1 or /node/v1.
  corsOrigins?: readonly string[] | '*';
  // Who may read /admin/v1/openapi.json and /admin/v1/docs: 'admin' (the admin token, the
  // default), 'public', or 'off' (not served). FLEETGATE_API_DOCS.
  apiDocs?: ApiDocsAccess;
  // The completion cap reserved for a request that sets no max_tokens (and added to the
  // request when its key has a token limit or a budget). Default 4096.
  defaultMaxTokens: number;
  // Bearer token for GET /metrics (FLEETGATE_METRICS_TOKEN); the admin credentials work too.
  metricsToken?: string;
  // Adds a key_id label to the request metrics (FLEETGATE_METRICS_KEY_LABEL). Default off:
  // one series per key can be many.
  metricsKeyLabel?: boolean;
}

// Signs the data-plane JWT for each forwarded request (gateway/src/signing).
export interface Signer {
  sign(claims: {
    aud: string;
    jti: string;
    instance: string;
    model: string;
    scope: DataPlaneScope;
  }): Promise<string>;
  jwks(): Jwks;
}

// One finished request, as written to usage_events.
export interface UsageEvent {
  // The gateway's request id; the row's key.
  id: string;
  // The client's own request id, when it sent a sane one; never unique.
  clientRequestId: string | null;
  keyId: string | null;
  model: string | null;
  endpoint: string;
  nodeId: string | null;
  instanceId: string | null;
  stream: boolean;
  status: number;
  outcome: 'ok' | 'error' | 'client_aborted' | 'upstream_error';
  errorCode: string | null;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  latencyMs: number;
  ttftMs: number | null;
  // US dollars at the model's price when the request finished; absent: 0.
  spendUsd?: number;
  // Images generated; absent: 0.
  images?: number;
  // Seconds of audio transcribed or translated, as the engine reported them; absent: 0.
  audioSeconds?: number;
  createdAt: number;
}

// Writes usage off the request path. The Node host batches in memory and flushes on a
// timer; the Worker writes each event inside waitUntil. record() never throws.
export interface UsageSink {
  record(event: UsageEvent): Promise<void>;
  flush(): Promise<void>;
  // What operators should see (GET /healthz): events waiting to be written and events
  // dropped. Absent where nothing waits (the Worker writes each event at once).
  stats?(): UsageSinkStats;
}

export interface UsageSinkStats {
  // Events not yet in the database.
  pending: number;
  // Events lost since start (memory full while the database was down).
  dropped: number;
  // Events that could not be journaled to the spool (full or unwritable): a crash before
  // their write would lose them.
  unspooled: number;
}

// How the gateway reaches a node's data plane: direct HTTP(S) to the advertise URL, or,
// for a node whose advertise URL is TUNNEL_ADVERTISE_URL (schema/tunnel.ts), a stream
// over the WebSocket the node opened to the gateway.
export interface NodeTransport {
  fetch(
    node: { id: string; advertiseUrl: string },
    path: string,
    init: RequestInit & { signal: AbortSignal },
  ): Promise<Response>;
  // Node host only: the same call, answered as node:http delivers it, so that a stream is
  // relayed to the client without Web streams (proxy/relay-node.ts). Undefined for a node
  // this transport does not reach itself (a tunnel node): fetch() serves it.
  open?: (
    node: { id: string; advertiseUrl: string },
    path: string,
    init: RequestInit & { signal: AbortSignal },
  ) => Promise<NodeAnswer> | undefined;
}

// A node's answer on the Node host, before any Web Response is made of it.
export interface NodeAnswer {
  status: number;
  // A response header (lower-case name), its values joined.
  header(name: string): string | undefined;
  body: IncomingMessage;
  // The answer as a Web Response (its body a Web stream), for the paths that read it so.
  toResponse(): Response;
}

// Node host: streamed answers it writes to the client's ServerResponse itself, with no Web
// stream in between (proxy/direct-streams.ts). The app hands a request's live stream over
// with the request's bindings (c.env) as the key; the host sends it once the app's response
// (status and headers, after every middleware) is final.
export interface DirectStreams {
  take(env: unknown, answer: DirectAnswer): void;
  // The client's leaving (its connection closed before the answer was complete) as a
  // signal, read from the host's own response object, so that no Web Request is built for
  // its signal; undefined where the bindings are not the host's.
  clientSignal(env: unknown): AbortSignal | undefined;
}

// Where the host keeps tunnel nodes' sockets (gateway/src/tunnel): in this process on the
// Node host, a Durable Object per node on the Worker. Absent: no tunnels (426 on the route).
export interface TunnelHost {
  // Takes over the WebSocket upgrade of an authenticated node (GET /node/v1/tunnel).
  accept(request: Request, nodeId: string): Promise<Response>;
  // Whether the node's tunnel is connected (to this replica, on the Node host).
  connected(nodeId: string): Promise<boolean>;
}

export interface AppDeps {
  db: Db;
  config: GatewayConfig;
  signer: Signer;
  usage: UsageSink;
  transport: NodeTransport;
  // Node host: takes streamed answers of direct nodes over (transport.open); absent: every
  // answer goes back as a Web Response.
  directStreams?: DirectStreams;
  tunnels?: TunnelHost;
  // Where per-key limits are counted; default: in this process (limits/memory.ts).
  limiter?: Limiter;
  now?: () => number;
  // Where access-log lines go (middleware/access-log.ts); absent: no access log.
  accessLog?: AccessLogWriter;
  // The secret that signs console sessions (at least 32 characters). Absent: generated on
  // first use and kept in the settings table (auth/session.ts).
  sessionSecret?: string;
  // The client's address as this host sees it (login throttling, the audit log). Absent:
  // unknown, and every client shares one throttle by address.
  clientAddress?: ClientAddress;
  // How long key lookups and routing-table loads wait for the database before giving up
  // (store/timeout.ts). Default DB_TIMEOUT_MS (5000).
  dbTimeoutMs?: number;
  // The dashboard's files (ui/serve.ts): answers a GET for a path under /ui/. The Node
  // host reads the built folder, the Worker its assets binding; absent: no dashboard.
  uiAssets?: UiAssets;
  // SHA-256 hex of an API key presented on /v1 (auth/secrets.ts's hashSecret by default;
  // the Node host passes a node:crypto one that skips Web Crypto's job per request).
  hashSecret?: (secret: string) => Promise<string>;
}

export type UiAssets = (request: Request) => Promise<Response>;
// Node host: the socket's peer, or a configured proxy header; Worker: cf-connecting-ip.
export type ClientAddress = (c: Context<AppEnv>) => string | undefined;

export interface AuthenticatedKey {
  id: string;
  name: string;
  models: string[] | null;
  limits: KeyLimits;
}

export interface AppEnv {
  Variables: {
    // The gateway's own id for this request (never the client's).
    requestId: string;
    // The id the client sent for correlation, when it was a sane token.
    clientRequestId: string | undefined;
    apiKey: AuthenticatedKey;
    // A proxied request's usage meter, and the promise that settles when its answer is over
    // (the end of a stream): what the access log reads at the end.
    meter: UsageMeter | undefined;
    settled: Promise<void> | undefined;
    // Who called the admin API (middleware/admin-auth.ts).
    admin: AdminPrincipal | undefined;
    // The username a login tried (recorded by the audit log when the login fails).
    loginName: string | undefined;
    // The code of the error the request was answered with (app.onError).
    errorCode: string | undefined;
  };
}
