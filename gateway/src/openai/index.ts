// The OpenAI API (mounted at /v1 behind API-key auth, which sets c.var.apiKey and
// c.var.requestId): model listing from the routing table, and the inference endpoints
// (endpoints.ts: JSON bodies, and audio uploads streamed through) proxied to a ready
// instance that serves the path, with usage recorded for every request.
import { Hono } from 'hono';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { ApiError, forbidden, notFound } from '../errors.ts';
import { runInBackground } from '../lib/background.ts';
import { createDefaultLimitGate, type LimitGate } from '../limits/gate.ts';
import type { OpenAIPath } from '../../../schema/endpoints.ts';
import { forward } from '../proxy/forward.ts';
import { LiveStats } from '../routing/live.ts';
import { DEFAULT_EPSILON } from '../routing/policies.ts';
import { Router, hashesOf } from '../routing/router.ts';
import {
  createRoutingCache,
  routesFor,
  type ModelRoutes,
  type RoutingTable,
} from '../routing/table.ts';
import type { AppDeps, AppEnv, AuthenticatedKey } from '../types.ts';
import { estimatePromptTokens } from '../usage/estimate.ts';
import { UsageMeter } from '../usage/meter.ts';
import { prepend, Upload } from '../proxy/upload.ts';
import type { JsonObject } from '../sse/inspect.ts';
import { readFormHead } from './audio.ts';
import { JSON_ENDPOINTS, UPLOAD_ENDPOINTS, type Endpoint, type JsonEndpoint } from './endpoints.ts';
import { parseBody } from './validate.ts';

// A request read and checked, ready to route.
interface Prepared {
  model: string;
  // The JSON body (forwarded, and read for limits and routing); {} for an upload.
  body: JsonObject;
  stream: boolean;
  // A multipart body streamed through instead of `body`.
  upload?: Upload;
}

const allows = (key: AuthenticatedKey, model: string) =>
  key.models === null || key.models.includes(model);

// Models this key may use that have a ready instance on an online node.
function visibleModels(key: AuthenticatedKey, table: RoutingTable): ModelRoutes[] {
  return [...table.values()]
    .filter((r) => r.targets.length > 0 && allows(key, r.model))
    .sort((a, b) => a.model.localeCompare(b.model));
}

const modelObject = (r: ModelRoutes) => ({
  id: r.model,
  object: 'model' as const,
  created: r.created,
  owned_by: 'fleetgate',
});

export function openaiApp(
  deps: AppDeps,
  live?: LiveStats,
  limits: LimitGate = createDefaultLimitGate(deps),
): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const now = deps.now ?? Date.now;
  const routing = createRoutingCache(deps.db, {
    cacheTtlMs: deps.config.cacheTtlMs,
    heartbeatIntervalS: deps.config.heartbeatIntervalS,
    now,
    dbTimeoutMs: deps.dbTimeoutMs,
  });
  const router = new Router(live ?? new LiveStats({ now }), {
    epsilon: (deps.config.routingLoadFactor ?? 1 + DEFAULT_EPSILON) - 1,
  });

  app.get('/models', async (c) => {
    const table = await routing.get();
    return c.json({ object: 'list', data: visibleModels(c.var.apiKey, table).map(modelObject) });
  });

  // Model names may hold slashes (`meta-llama/Llama-3.1-8B-Instruct`).
  app.get('/models/:model{.+}', async (c) => {
    const model = c.req.param('model');
    const routes = (await routing.get()).get(model);
    if (!routes || routes.targets.length === 0 || !allows(c.var.apiKey, model)) {
      throw notFound(`model '${model}' does not exist`, 'model_not_found', 'model');
    }
    return c.json(modelObject(routes));
  });

  // The routes of a model for one path: 404 for an unknown model, and for a path none of
  // its deployments serves (an image model asked for a chat completion).
  async function routesOf(model: string, path: OpenAIPath): Promise<ModelRoutes> {
    const routes = (await routing.get()).get(model);
    if (!routes) throw notFound(`model '${model}' does not exist`, 'model_not_found', 'model');
    const served = routesFor(routes, path);
    if (!served) {
      throw notFound(
        `model '${model}' does not serve ${path} (its deployments' engines do not)`,
        'endpoint_not_supported',
        'model',
      );
    }
    return served;
  }

  // A JSON request: the body read whole and checked.
  const readJsonRequest =
    (endpoint: JsonEndpoint) =>
    async (c: Context<AppEnv>): Promise<Prepared> => {
      const body: Record<string, unknown> = parseBody(await c.req.text(), endpoint.schema);
      // Embeddings (and rerank, score, images) have no streamed form; a stream flag there
      // is dropped, not forwarded.
      const stream = endpoint.streams && body.stream === true;
      if (!endpoint.streams) {
        delete body.stream;
        delete body.stream_options;
      }
      return { model: String(body.model), body, stream };
    };

  // A multipart upload: read up to its `model` field, the rest streamed through.
  const readUpload = async (c: Context<AppEnv>): Promise<Prepared> => {
    const form = await readFormHead(c.req.raw);
    const upload = new Upload(form.contentType, prepend(form.head, form.rest));
    return { model: form.model, body: {}, stream: form.stream, upload };
  };

  // Validates, routes and forwards one inference request; records its usage whatever
  // happens (the row is written after the answer, off the request path).
  async function proxy(
    c: Context<AppEnv>,
    endpoint: Endpoint,
    read: (c: Context<AppEnv>) => Promise<Prepared>,
  ): Promise<Response> {
    const { path } = endpoint;
    // c.get, not c.var: Hono builds a whole object of the variables on each c.var read.
    const key = c.get('apiKey');
    const requestId = c.get('requestId');
    const { meterAnswer } = endpoint;
    const meter = new UsageMeter({
      id: requestId,
      clientRequestId: c.get('clientRequestId'),
      keyId: key.id,
      endpoint: path,
      now,
    });
    c.set('meter', meter);
    try {
      const { model, body, stream, upload } = await read(c);
      meter.model = model;
      meter.stream = stream;
      meter.estimatePrompt = () => estimatePromptTokens(path, body);
      if (!allows(key, model)) {
        throw forbidden(`this API key may not use model '${model}'`, 'model_not_allowed');
      }
      const routes = await routesOf(model, path);
      await limits.admit(c, path, model, body);
      // Only the prefix policy reads the prompt; the others skip hashing it.
      const hashes = routes.policy === 'prefix' ? hashesOf(body) : [];
      const forwarded = await forward(deps, {
        requestId,
        path,
        model,
        body,
        stream,
        // The Node host's from its own response object: c.req.raw there would build a
        // whole Web Request for its signal.
        clientSignal: deps.directStreams?.clientSignal(c.env) ?? c.req.raw.signal,
        meter,
        pick: (tried) => router.pick(routes, hashes, tried),
        attempt: (target) => router.live.start(target.instanceId),
        inspect: endpoint.inspect,
        onAnswer: meterAnswer && ((json) => meterAnswer(meter, json)),
        rawAnswer: endpoint.rawAnswer,
        upload,
        direct: deps.directStreams !== undefined,
      });
      c.set('settled', forwarded.done);
      const recorded = forwarded.done.then(() => limits.finish(key, meter.finish()));
      runInBackground(c, recorded, 'usage');
      // The Node host sends this stream itself, after the head below went through every
      // middleware.
      if (forwarded.direct) deps.directStreams?.take(c.env, forwarded.direct);
      // Through the context, so headers set by earlier middleware (x-request-id) apply.
      const { response } = forwarded;
      return response.body ? c.body(response.body, response) : c.body(null, response);
    } catch (err) {
      if (err instanceof ApiError) {
        meter.status = err.status;
        meter.fail('error', err.code);
      } else if (err instanceof HTTPException) {
        // Raised by Hono middleware while the body is read (the body limit's 413).
        meter.status = err.status;
        meter.fail('error', `http_${err.status}`);
      } else {
        meter.status = 500;
        meter.fail('error', 'internal_error');
      }
      runInBackground(c, limits.finish(key, meter.finish()), 'usage');
      throw err;
    }
  }

  for (const endpoint of JSON_ENDPOINTS) {
    const read = readJsonRequest(endpoint);
    app.post(endpoint.path.slice('/v1'.length), (c) => proxy(c, endpoint, read));
  }
  for (const endpoint of UPLOAD_ENDPOINTS) {
    app.post(endpoint.path.slice('/v1'.length), (c) => proxy(c, endpoint, readUpload));
  }

  return app;
}
