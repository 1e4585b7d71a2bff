// Reads a JSON request body and validates it with a zod schema; anything wrong is a 400 in
// OpenAI's shape whose `param` names the offending field.
import type { Context } from 'hono';
import type { z } from 'zod';
import { badRequest } from '../errors.ts';
import { MAX_JSON_DEPTH, nestsDeeperThan } from './json-depth.ts';

export function zodIssueToError(error: z.ZodError, prefix = '') {
  const issue = error.issues[0];
  const path = issue?.path.map(String).join('.') ?? '';
  const param = path ? `${prefix}${path}` : prefix.replace(/\.$/, '') || null;
  let message = issue?.message ?? 'invalid value';
  if (issue?.code === 'unrecognized_keys') {
    message = `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
    return badRequest(message, param, 'unknown_parameter');
  }
  return badRequest(param ? `invalid '${param}': ${message}` : message, param, 'invalid_value');
}

export async function readJson<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  const text = await c.req.text();
  let json: unknown;
  try {
    json = text === '' ? {} : JSON.parse(text);
  } catch {
    throw badRequest('the request body is not valid JSON', null, 'invalid_json');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw badRequest('the request body must be a JSON object', null, 'invalid_json');
  }
  if (nestsDeeperThan(json, MAX_JSON_DEPTH)) {
    throw badRequest(
      `the request body nests deeper than ${MAX_JSON_DEPTH} levels`,
      null,
      'invalid_json',
    );
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw zodIssueToError(parsed.error);
  return parsed.data;
}
