// The admin API's OpenAPI 3.1 document, built from the zod schemas the handlers validate
// requests with and the response contracts in schema/admin.ts, through zod's own
// z.toJSONSchema (JSON Schema 2020-12, the dialect of OpenAPI 3.1). No OpenAPI library: the
// handlers stay plain Hono routes, and the Worker bundles nothing more. Each operation is
// listed once below; a test checks the list against the app's routes both ways.
import { z } from 'zod';
import * as admin from '../../../schema/admin.ts';
import { DeploymentPlacementSchema } from '../../../schema/contracts.ts';
import { CreateDeploymentSchema, PatchDeploymentSchema } from './deployments.ts';
import { PriceSchema } from '../limits/wire.ts';
import { CreateKeySchema, PatchKeySchema } from './keys.ts';
import { LogsQuerySchema } from './logs.ts';
import { CreateTokenSchema } from './registration-tokens.ts';
import { StatsQuerySchema } from './stats.ts';
import { AuditQuerySchema } from './audit-log.ts';
import { LoginSchema } from './session.ts';
import { CreateUserSchema } from './users.ts';
import { EventsQuerySchema, UsageQuerySchema } from './usage.ts';

export interface Operation {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  // OpenAPI form: /admin/v1/keys/{id}.
  path: string;
  tag: string;
  summary: string;
  description?: string;
  body?: z.ZodType;
  query?: z.ZodObject;
  status: 200 | 201 | 204;
  // A schema registered in COMPONENTS, or a media type that is not JSON.
  response: z.ZodType | { mediaType: string };
  // 'admin': the admin token or a console session; 'session': the session cookie only.
  security?: 'admin' | 'session' | 'apiKey' | 'none';
}

// Named schemas: shown once under components.schemas and referred to by name.
const COMPONENTS: Record<string, z.ZodType> = {
  ErrorBody: admin.ErrorBodySchema,
  ApiKey: admin.ApiKeySchema,
  CreatedApiKey: admin.CreatedApiKeySchema,
  ApiKeyList: admin.ApiKeyListSchema,
  DeletedApiKey: admin.DeletedApiKeySchema,
  KeyLimits: admin.KeyLimitsSchema,
  KeyStanding: admin.KeyStandingSchema,
  ApiKeyDetail: admin.ApiKeyDetailSchema,
  OwnKey: admin.OwnKeySchema,
  ModelPrice: admin.ModelPriceSchema,
  ModelPriceList: admin.ModelPriceListSchema,
  DeletedModelPrice: admin.DeletedModelPriceSchema,
  RegistrationToken: admin.RegistrationTokenSchema,
  CreatedRegistrationToken: admin.CreatedRegistrationTokenSchema,
  RegistrationTokenList: admin.RegistrationTokenListSchema,
  DeletedRegistrationToken: admin.DeletedRegistrationTokenSchema,
  Instance: admin.InstanceSchema,
  Node: admin.NodeSchema,
  NodeList: admin.NodeListSchema,
  DeletedNode: admin.DeletedNodeSchema,
  Deployment: admin.DeploymentSchema,
  DeploymentList: admin.DeploymentListSchema,
  DeletedDeployment: admin.DeletedDeploymentSchema,
  DeploymentLogs: admin.DeploymentLogsSchema,
  UsageRow: admin.UsageRowSchema,
  UsageSummary: admin.UsageSummarySchema,
  UsageEvent: admin.UsageEventSchema,
  UsageEventList: admin.UsageEventListSchema,
  StatsBucket: admin.StatsBucketSchema,
  UsageStats: admin.UsageStatsSchema,
  AdminUser: admin.AdminUserSchema,
  AdminUserList: admin.AdminUserListSchema,
  DeletedAdminUser: admin.DeletedAdminUserSchema,
  Session: admin.SessionSchema,
  AuditEntry: admin.AuditEntrySchema,
  AuditLogPage: admin.AuditLogPageSchema,
};

// The handlers check `placement` on its own (so its errors name placement.*); the document
// shows its real shape.
const placement = { placement: DeploymentPlacementSchema.optional() };

const A = '/admin/v1';

export const ADMIN_OPERATIONS: Operation[] = [
  {
    method: 'post',
    path: `${A}/session`,
    tag: 'session',
    summary: 'Sign in to the console',
    description:
      'Sets the fleetgate_session cookie (HttpOnly, Secure, SameSite=Strict). Every change made with the cookie must send the answered csrf_token in x-csrf-token. Failed logins are throttled per username and per client address (429 with retry-after).',
    body: LoginSchema,
    status: 200,
    response: admin.SessionSchema,
    security: 'none',
  },
  {
    method: 'get',
    path: `${A}/session`,
    tag: 'session',
    summary: 'Read the session of the cookie',
    status: 200,
    response: admin.SessionSchema,
    security: 'session',
  },
  {
    method: 'delete',
    path: `${A}/session`,
    tag: 'session',
    summary: 'Sign out (the session is revoked and its cookie cleared)',
    status: 204,
    response: { mediaType: 'none' },
    security: 'session',
  },
  {
    method: 'post',
    path: `${A}/users`,
    tag: 'users',
    summary: 'Create a console user (role admin or viewer)',
    body: CreateUserSchema,
    status: 201,
    response: admin.AdminUserSchema,
  },
  {
    method: 'get',
    path: `${A}/users`,
    tag: 'users',
    summary: 'List console users',
    status: 200,
    response: admin.AdminUserListSchema,
  },
  {
    method: 'delete',
    path: `${A}/users/{id}`,
    tag: 'users',
    summary: 'Delete a console user (its sessions end)',
    status: 200,
    response: admin.DeletedAdminUserSchema,
  },
  {
    method: 'get',
    path: `${A}/audit-log`,
    tag: 'audit-log',
    summary: 'Read the audit log of admin mutations, newest first',
    description: 'The next page: before=<the last entry id>, while has_more.',
    query: AuditQuerySchema,
    status: 200,
    response: admin.AuditLogPageSchema,
  },
  {
    method: 'post',
    path: `${A}/keys`,
    tag: 'keys',
    summary: 'Create an API key',
    description: 'The answer holds the secret (`key`); it is shown only here.',
    body: CreateKeySchema,
    status: 201,
    response: admin.CreatedApiKeySchema,
  },
  {
    method: 'get',
    path: `${A}/keys`,
    tag: 'keys',
    summary: 'List API keys',
    status: 200,
    response: admin.ApiKeyListSchema,
  },
  {
    method: 'get',
    path: `${A}/keys/{id}`,
    tag: 'keys',
    summary: 'Read an API key with its usage in its budget period and what remains',
    status: 200,
    response: admin.ApiKeyDetailSchema,
  },
  {
    method: 'patch',
    path: `${A}/keys/{id}`,
    tag: 'keys',
    summary: 'Change an API key (name, models, expiry, disabled, limits)',
    description:
      'Limit fields left out keep their value; null clears one, and `limits: null` clears all.',
    body: PatchKeySchema,
    status: 200,
    response: admin.ApiKeySchema,
  },
  {
    method: 'delete',
    path: `${A}/keys/{id}`,
    tag: 'keys',
    summary: 'Revoke an API key',
    status: 200,
    response: admin.DeletedApiKeySchema,
  },
  {
    method: 'post',
    path: `${A}/registration-tokens`,
    tag: 'registration-tokens',
    summary: 'Create a registration token for a GPU machine',
    description: 'The answer holds the token (`token`); it is shown only here.',
    body: CreateTokenSchema,
    status: 201,
    response: admin.CreatedRegistrationTokenSchema,
  },
  {
    method: 'get',
    path: `${A}/registration-tokens`,
    tag: 'registration-tokens',
    summary: 'List registration tokens',
    status: 200,
    response: admin.RegistrationTokenListSchema,
  },
  {
    method: 'delete',
    path: `${A}/registration-tokens/{id}`,
    tag: 'registration-tokens',
    summary: 'Delete a registration token',
    status: 200,
    response: admin.DeletedRegistrationTokenSchema,
  },
  {
    method: 'get',
    path: `${A}/nodes`,
    tag: 'nodes',
    summary: 'List nodes, their GPUs, load and instances',
    status: 200,
    response: admin.NodeListSchema,
  },
  {
    method: 'get',
    path: `${A}/nodes/{id}`,
    tag: 'nodes',
    summary: 'Read a node',
    status: 200,
    response: admin.NodeSchema,
  },
  {
    method: 'delete',
    path: `${A}/nodes/{id}`,
    tag: 'nodes',
    summary: 'Remove a node; its unpinned replicas are placed elsewhere',
    status: 200,
    response: admin.DeletedNodeSchema,
  },
  {
    method: 'post',
    path: `${A}/deployments`,
    tag: 'deployments',
    summary: 'Create a deployment (a model served by a recipe, placed on nodes)',
    body: CreateDeploymentSchema.extend(placement),
    status: 201,
    response: admin.DeploymentSchema,
  },
  {
    method: 'get',
    path: `${A}/deployments`,
    tag: 'deployments',
    summary: 'List deployments and their instances',
    status: 200,
    response: admin.DeploymentListSchema,
  },
  {
    method: 'get',
    path: `${A}/deployments/{id}`,
    tag: 'deployments',
    summary: 'Read a deployment',
    status: 200,
    response: admin.DeploymentSchema,
  },
  {
    method: 'patch',
    path: `${A}/deployments/{id}`,
    tag: 'deployments',
    summary: 'Change a deployment (scale, re-spec, move)',
    description:
      'A changed model, recipe or options replaces its instances; a replica count only adds or removes replicas.',
    body: PatchDeploymentSchema.extend(placement),
    status: 200,
    response: admin.DeploymentSchema,
  },
  {
    method: 'delete',
    path: `${A}/deployments/{id}`,
    tag: 'deployments',
    summary: 'Delete a deployment; nodes stop its engines',
    status: 200,
    response: admin.DeletedDeploymentSchema,
  },
  {
    method: 'get',
    path: `${A}/deployments/{id}/logs`,
    tag: 'deployments',
    summary: "An engine's last log lines, read from its node",
    query: LogsQuerySchema,
    status: 200,
    response: admin.DeploymentLogsSchema,
  },
  {
    method: 'get',
    path: `${A}/usage`,
    tag: 'usage',
    summary: 'Requests, tokens and latencies over a window, in total or grouped',
    description: 'The window defaults to the last 24 hours; times are unix seconds or ISO 8601.',
    query: UsageQuerySchema,
    status: 200,
    response: admin.UsageSummarySchema,
  },
  {
    method: 'get',
    path: `${A}/usage/events`,
    tag: 'usage',
    summary: 'The latest recorded requests, newest first',
    query: EventsQuerySchema,
    status: 200,
    response: admin.UsageEventListSchema,
  },
  {
    method: 'get',
    path: `${A}/stats`,
    tag: 'usage',
    summary: 'Requests, errors, tokens and time to first token (p50, p99) per time bucket',
    description:
      'Every bucket from since (unix milliseconds, rounded down to a bucket boundary; default an hour ago) to now, at most 720. Rates divide by the part of a bucket that has passed; percentiles are exact nearest-rank values over the streamed requests of a bucket.',
    query: StatsQuerySchema,
    status: 200,
    response: admin.UsageStatsSchema,
  },
  {
    method: 'put',
    path: `${A}/prices/{model}`,
    tag: 'prices',
    summary: "Set a model's price in US dollars per million input and output tokens",
    description:
      'Usage rows carry spend_usd at the price in force when the request finished; a model without a price costs 0.',
    body: PriceSchema,
    status: 200,
    response: admin.ModelPriceSchema,
  },
  {
    method: 'get',
    path: `${A}/prices`,
    tag: 'prices',
    summary: 'List model prices',
    status: 200,
    response: admin.ModelPriceListSchema,
  },
  {
    method: 'delete',
    path: `${A}/prices/{model}`,
    tag: 'prices',
    summary: "Remove a model's price (it then costs 0)",
    status: 200,
    response: admin.DeletedModelPriceSchema,
  },
  {
    method: 'get',
    path: `${A}/openapi.json`,
    tag: 'docs',
    summary: 'This document',
    status: 200,
    response: { mediaType: 'application/json' },
  },
  {
    method: 'get',
    path: `${A}/docs`,
    tag: 'docs',
    summary: 'This document as a web page',
    status: 200,
    response: { mediaType: 'text/html' },
  },
];

// The key holder's own endpoint on /v1 (authenticated by the API key itself), documented
// here so that one document covers what an operator hands to key holders too.
export const KEY_HOLDER_OPERATIONS: Operation[] = [
  {
    method: 'get',
    path: '/v1/key',
    tag: 'key holder',
    summary: "The calling key's models, limits, usage in its budget period and resets",
    description:
      'Answers with the same x-ratelimit-* headers as an inference request, without spending anything.',
    status: 200,
    response: admin.OwnKeySchema,
    security: 'apiKey',
  },
];

type JsonObject = Record<string, unknown>;

// A schema's JSON Schema as OpenAPI embeds it (no $schema or $id of its own).
function embed(schema: JsonObject): JsonObject {
  const { $schema: _dialect, $id: _id, ...rest } = schema;
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

export interface DocumentOptions {
  // Operations beyond the admin API's and the key holder's.
  extra?: Operation[];
  // Whether the document and docs page need the admin token.
  docsPublic: boolean;
}

export function buildOpenApiDocument(opts: DocumentOptions): JsonObject {
  const uri = (id: string) => `#/components/schemas/${id}`;
  const registry = z.registry<{ id: string }>();
  const names = new Map<z.ZodType, string>();
  for (const [name, schema] of Object.entries(COMPONENTS)) {
    registry.add(schema, { id: name });
    names.set(schema, name);
  }
  const components = z.toJSONSchema(registry, { uri }).schemas;
  const schemas = Object.fromEntries(
    Object.entries(components).map(([name, schema]) => [name, embed(schema as JsonObject)]),
  );

  const operations = [...ADMIN_OPERATIONS, ...KEY_HOLDER_OPERATIONS, ...(opts.extra ?? [])];
  const paths: Record<string, JsonObject> = {};
  for (const op of operations) {
    const security = op.tag === 'docs' && opts.docsPublic ? 'none' : (op.security ?? 'admin');
    const parameters: JsonObject[] = [];
    for (const [, name] of op.path.matchAll(/\{([^}]+)\}/g)) {
      parameters.push({ name, in: 'path', required: true, schema: { type: 'string' } });
    }
    if (op.query) {
      const query = z.toJSONSchema(op.query, { io: 'input', unrepresentable: 'any' });
      const required = new Set(query.required ?? []);
      for (const [name, schema] of Object.entries(query.properties ?? {})) {
        parameters.push({ name, in: 'query', required: required.has(name), schema });
      }
    }
    let content: JsonObject | undefined;
    if (op.status === 204) {
      content = undefined;
    } else if ('mediaType' in op.response) {
      content = { [op.response.mediaType]: {} };
    } else {
      const name = names.get(op.response);
      if (name === undefined) throw new Error(`openapi: ${op.path} answers an unnamed schema`);
      content = { 'application/json': { schema: ref(name) } };
    }
    const operation: JsonObject = {
      tags: [op.tag],
      summary: op.summary,
      ...(op.description ? { description: op.description } : {}),
      operationId: operationId(op),
      ...(parameters.length ? { parameters } : {}),
      ...(op.body
        ? {
            requestBody: {
              required: true,
              content: {
                'application/json': {
                  schema: embed(z.toJSONSchema(op.body, { io: 'input', unrepresentable: 'any' })),
                },
              },
            },
          }
        : {}),
      responses: {
        [String(op.status)]: content
          ? { description: 'OK', content }
          : { description: 'No content' },
        default: { $ref: '#/components/responses/Error' },
      },
      security:
        security === 'none'
          ? []
          : security === 'admin'
            ? [{ admin: [] }, { session: [] }]
            : [{ [security]: [] }],
    };
    paths[op.path] = { ...paths[op.path], [op.method]: operation };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'fleetgate admin API',
      version: 'v1',
      description:
        'Operate a fleetgate gateway: API keys, registration tokens for GPU nodes, nodes, deployments and usage. Times are unix seconds. Every error has OpenAI\'s shape {"error": {message, type, param, code}}.',
    },
    tags: [...new Set(operations.map((o) => o.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas,
      responses: {
        Error: {
          description: "An error, in OpenAI's shape; `code` is stable, `param` names the field.",
          content: { 'application/json': { schema: ref('ErrorBody') } },
        },
      },
      securitySchemes: {
        admin: {
          type: 'http',
          scheme: 'bearer',
          description: 'The admin token (FLEETGATE_ADMIN_TOKEN).',
        },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: 'fleetgate_session',
          description:
            'A console session (POST /admin/v1/session); changes also need its CSRF token in x-csrf-token, and the admin role.',
        },
        apiKey: { type: 'http', scheme: 'bearer', description: 'An API key (sk-fg-...).' },
      },
    },
  };
}

// keys.list, deployments.logs, ...: stable names for generated clients.
function operationId(op: Operation): string {
  const rest = op.path
    .replace(/^\/(admin\/)?v1\//, '')
    .split('/')
    .filter((part) => part && !part.startsWith('{'));
  const byId = op.path.endsWith('}');
  const verb =
    op.method === 'post'
      ? 'create'
      : op.method === 'put'
        ? 'set'
        : op.method === 'patch'
          ? 'update'
          : op.method === 'delete'
            ? 'delete'
            : byId
              ? 'get'
              : 'list';
  const action = op.tag === 'docs' ? 'get' : verb;
  return [...rest.map((p) => p.replace(/[^A-Za-z0-9]+/g, '_')), action].join('.');
}
