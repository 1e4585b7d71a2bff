// /admin/v1/deployments: a model name served by an engine recipe with its options, a
// placement (a pinned node or any node with room) and a replica count. Every change is
// placed at once (control-plane/reconcile.ts); nodes learn it from their next heartbeat.
import { Hono } from 'hono';
import { z } from 'zod';
import {
  DEFAULT_ROUTING_POLICY,
  DeploymentPlacementSchema,
  RecipeNameSchema,
  RoutingPolicySchema,
  type DeploymentPlacement,
  type RecipeName,
} from '../../../schema/contracts.ts';
import { endpointsOf } from '../../../schema/endpoints.ts';
import { parseRecipeOptions } from '../../../schema/recipes.ts';
import { badRequest, notFound } from '../errors.ts';
import { newId } from '../lib/ids.ts';
import type { LiveStats } from '../routing/live.ts';
import { readJson, zodIssueToError } from '../lib/json-body.ts';
import { toUnixSeconds } from '../lib/time.ts';
import {
  deleteDeploymentWithInstances,
  findDeployment,
  insertDeployment,
  listDeployments,
  updateDeployment,
  type DeploymentRow,
} from '../store/deployments.ts';
import { instancesBy, type InstanceView } from '../store/instances.ts';
import { findNodeGpus } from '../store/nodes.ts';
import type { Deployment } from '../../../schema/admin.ts';
import type { AppDeps, AppEnv } from '../types.ts';
import type { AdminContext } from './context.ts';
import { previewPlacement } from '../control-plane/reconcile.ts';
import { deploymentLogsApp } from './logs.ts';
import { replan } from './replan.ts';

export const MAX_REPLICAS = 64;

// What clients send as `model`: printable, no whitespace (e.g. org/Model-7B, llama3.2:1b).
const ModelNameSchema = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[^\s\p{Cc}]+$/u, 'printable characters without whitespace');

const fields = {
  model: ModelNameSchema,
  recipe: RecipeNameSchema,
  options: z.record(z.string(), z.unknown()).nullish(),
  // Checked with DeploymentPlacementSchema below, so its errors name the field.
  placement: z.unknown().optional(),
  replicas: z.number().int().min(0).max(MAX_REPLICAS),
  routing: RoutingPolicySchema,
};

export const CreateDeploymentSchema = z
  .object({ ...fields, replicas: fields.replicas.optional(), routing: fields.routing.optional() })
  .strict();

export const PatchDeploymentSchema = z
  .object({
    model: fields.model.optional(),
    recipe: fields.recipe.optional(),
    options: fields.options,
    placement: fields.placement,
    replicas: fields.replicas.optional(),
    routing: fields.routing.optional(),
  })
  .strict();

// What this gateway process sees of an instance: its requests in flight here and its
// circuit breaker (per process: another replica or isolate may see it otherwise).
function withGatewayView(live: LiveStats, instances: InstanceView[]) {
  return instances.map((instance) => {
    const figures = live.get(instance.id);
    const retryAt = live.retryAt(instance.id);
    return {
      ...instance,
      gateway: {
        in_flight: figures.inFlight,
        ttft_ms: figures.ttftMs === null ? null : Math.round(figures.ttftMs),
        circuit: figures.circuit.state,
        consecutive_failures: figures.recentFailures,
        retry_at: retryAt === null ? null : Math.ceil(retryAt / 1000),
      },
    };
  });
}

type Unplaced = Deployment['unplaced'];

function deploymentView(
  row: DeploymentRow,
  instances: InstanceView[],
  live: LiveStats,
  unplaced: Unplaced,
): Deployment {
  const parsed = parseRecipeOptions(row.recipe, row.options);
  return {
    id: row.id,
    object: 'deployment' as const,
    model: row.model,
    recipe: row.recipe,
    options: row.options,
    placement: row.placement,
    replicas: row.replicas,
    routing: row.routing,
    gpus_per_replica: parsed.ok ? parsed.gpus : null,
    endpoints: endpointsOf(row.recipe, row.options),
    created_at: toUnixSeconds(row.createdAt),
    updated_at: toUnixSeconds(row.updatedAt),
    instances: withGatewayView(live, instances),
    unplaced,
  };
}

export function deploymentsApp(deps: AppDeps, ctx: AdminContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const now = deps.now ?? Date.now;
  const { db } = deps;

  async function find(id: string): Promise<DeploymentRow> {
    const row = await findDeployment(db, id);
    if (!row) throw notFound(`no deployment with id '${id}'`, 'deployment_not_found', 'id');
    return row;
  }

  // Replicas that fit nowhere now, and why, by deployment id.
  async function unplacedNow(): Promise<Map<string, NonNullable<Unplaced>>> {
    const plan = await previewPlacement(db, {
      now: now(),
      heartbeatIntervalS: deps.config.heartbeatIntervalS,
    });
    return new Map(
      plan.unplaced.map((u) => [u.deploymentId, { replicas: u.replicas, reason: u.reason }]),
    );
  }

  async function show(id: string) {
    const [row, instances, unplaced] = await Promise.all([
      find(id),
      instancesBy(db, 'deployment', id),
      unplacedNow(),
    ]);
    return deploymentView(row, instances.get(id) ?? [], ctx.live, unplaced.get(id) ?? null);
  }

  // Recipe options and placement, checked together: a pinned node must exist and have
  // the GPUs the recipe asks for.
  async function validate(recipe: RecipeName, rawOptions: unknown, rawPlacement: unknown) {
    const options = parseRecipeOptions(recipe, rawOptions ?? {});
    if (!options.ok) throw badRequest(options.message, options.param, 'invalid_recipe_option');
    const placement = DeploymentPlacementSchema.safeParse(rawPlacement ?? {});
    if (!placement.success) throw zodIssueToError(placement.error, 'placement.');
    const nodeId = placement.data.node_id;
    if (nodeId !== undefined) {
      const gpus = await findNodeGpus(db, nodeId);
      if (!gpus) {
        throw badRequest(`no node with id '${nodeId}'`, 'placement.node_id', 'node_not_found');
      }
      if (gpus.length < options.gpus) {
        throw badRequest(
          `node '${nodeId}' has ${gpus.length} GPU(s); this deployment needs ${options.gpus} per replica`,
          'placement.node_id',
          'insufficient_gpus',
        );
      }
    }
    return { options: options.options, placement: placement.data satisfies DeploymentPlacement };
  }

  app.post('/', async (c) => {
    const body = await readJson(c, CreateDeploymentSchema);
    const { options, placement } = await validate(body.recipe, body.options, body.placement);
    const id = newId('dep');
    const at = now();
    await insertDeployment(db, {
      id,
      model: body.model,
      recipe: body.recipe,
      options,
      placement,
      replicas: body.replicas ?? 1,
      routing: body.routing ?? DEFAULT_ROUTING_POLICY,
      createdAt: at,
      updatedAt: at,
    });
    await replan(ctx);
    return c.json(await show(id), 201);
  });

  app.get('/', async (c) => {
    const [rows, instances, unplaced] = await Promise.all([
      listDeployments(db),
      instancesBy(db, 'deployment'),
      unplacedNow(),
    ]);
    return c.json({
      object: 'list',
      data: rows.map((r) =>
        deploymentView(r, instances.get(r.id) ?? [], ctx.live, unplaced.get(r.id) ?? null),
      ),
    });
  });

  app.get('/:id', async (c) => c.json(await show(c.req.param('id'))));

  app.patch('/:id', async (c) => {
    const id = c.req.param('id');
    const body = await readJson(c, PatchDeploymentSchema);
    const current = await find(id);
    const recipe = body.recipe ?? current.recipe;
    const { options, placement } = await validate(
      recipe,
      body.options === undefined ? current.options : body.options,
      body.placement === undefined ? current.placement : body.placement,
    );
    const model = body.model ?? current.model;
    // A changed engine spec gets fresh instances (new ids): nodes stop the old engines and
    // start new ones, and no request is routed to an engine still running the old spec.
    const specChanged =
      model !== current.model ||
      recipe !== current.recipe ||
      JSON.stringify(options) !== JSON.stringify(current.options);
    const updated = await updateDeployment(
      db,
      id,
      {
        model,
        recipe,
        options,
        placement,
        replicas: body.replicas ?? current.replicas,
        routing: body.routing ?? current.routing,
        updatedAt: now(),
      },
      { dropInstances: specChanged },
    );
    if (!updated) throw notFound(`no deployment with id '${id}'`, 'deployment_not_found', 'id');
    await replan(ctx);
    return c.json(await show(id));
  });

  app.delete('/:id', async (c) => {
    const id = c.req.param('id');
    if (!(await deleteDeploymentWithInstances(db, id))) {
      throw notFound(`no deployment with id '${id}'`, 'deployment_not_found', 'id');
    }
    await replan(ctx);
    return c.json({ id, object: 'deployment' as const, deleted: true });
  });

  app.route('/', deploymentLogsApp(deps));

  return app;
}
