// What the host gives the app (createApp(deps)) and what middleware puts on the context.
// Everything host-specific (database driver, usage writer, signing key, how nodes are
// reached) arrives here, so app code stays on Web-standard APIs.
import type { Jwks } from '../../schema/contracts.ts';
import type { Db } from './store/db.ts';

export interface GatewayConfig {
  // Bearer token for /admin/v1 (compared in constant time).
  adminToken: string;
  // Request bodies larger than this are refused with 413. Default 1 MiB.
  maxBodyBytes: number;
  // Nodes heartbeat this often; a node silent for 3 intervals is offline. Default 5.
  heartbeatIntervalS: number;
  // How long key lookups and the routing table are cached in memory. Default 2000 ms,
  // which bounds how long a revoked key can still be used on one host.
  cacheTtlMs: number;
  // Lifetime of the JWT signed for each forwarded request (<= 60 s).
  nodeJwtTtlS: number;
}

// Signs the data-plane JWT for each forwarded request (gateway/src/signing).
export interface Signer {
  sign(claims: { aud: string; jti: string; instance: string; model: string }): Promise<string>;
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
  createdAt: number;
}

// Writes usage off the request path. The Node host batches in memory and flushes on a
// timer; the Worker writes each event inside waitUntil. record() never throws.
export interface UsageSink {
  record(event: UsageEvent): Promise<void>;
  flush(): Promise<void>;
}

// How the gateway reaches a node's data plane. Direct HTTP(S) to the advertise URL now;
// a dial-out tunnel later must fit behind the same call.
export interface NodeTransport {
  fetch(
    node: { id: string; advertiseUrl: string },
    path: string,
    init: RequestInit & { signal: AbortSignal },
  ): Promise<Response>;
}

export interface AppDeps {
  db: Db;
  config: GatewayConfig;
  signer: Signer;
  usage: UsageSink;
  transport: NodeTransport;
  now?: () => number;
}

export interface AuthenticatedKey {
  id: string;
  name: string;
  models: string[] | null;
}

export interface AppEnv {
  Variables: {
    // The gateway's own id for this request (never the client's).
    requestId: string;
    // The id the client sent for correlation, when it was a sane token.
    clientRequestId: string | undefined;
    apiKey: AuthenticatedKey;
  };
}
