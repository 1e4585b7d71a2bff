// The CLI's limit and price commands, and the limit flags of `keys create`.
import type { ParseArgsConfig } from 'node:util';
import {
  DeletedModelPriceSchema,
  ModelPriceListSchema,
  ModelPriceSchema,
  type ApiKeyDetail,
  type KeyLimits,
} from '../../schema/admin.ts';
import { CliError, type AdminApi } from './client.ts';
import { isoTime, table } from './format.ts';

export const limitsUsage = `  keys create ... [--rpm N] [--tpm N] [--max-concurrent N] [--token-budget N]
                  [--spend-budget USD] [--budget-period day|week|month|total]
  keys limits ID [the same limit flags; 'none' clears one]
  prices set MODEL --input USD_PER_MTOK --output USD_PER_MTOK [--image USD_PER_IMAGE]
  prices list | prices rm MODEL`;

export const limitOptions = {
  rpm: { type: 'string' },
  tpm: { type: 'string' },
  'max-concurrent': { type: 'string' },
  'token-budget': { type: 'string' },
  'spend-budget': { type: 'string' },
  'budget-period': { type: 'string' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

type LimitFlags = Partial<Record<keyof typeof limitOptions, string>>;

// A number, or null for `none`; the gateway judges the value and names the field.
function value(raw: string, flag: string): number | null {
  if (raw === 'none') return null;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n)) {
    throw new CliError(`--${flag} must be a number, or 'none' for no limit`);
  }
  return n;
}

// The `limits` object of a create or patch body; undefined when no limit flag was given.
export function limitsBody(f: LimitFlags): Partial<KeyLimits> | undefined {
  const out: Record<string, number | string | null> = {};
  const fields: [keyof typeof limitOptions, keyof KeyLimits][] = [
    ['rpm', 'requests_per_minute'],
    ['tpm', 'tokens_per_minute'],
    ['max-concurrent', 'max_concurrent_requests'],
    ['token-budget', 'token_budget'],
    ['spend-budget', 'spend_budget_usd'],
  ];
  for (const [flag, field] of fields) {
    const raw = f[flag];
    if (raw !== undefined) out[field] = value(raw, flag);
  }
  const period = f['budget-period'];
  if (period !== undefined) out.budget_period = period === 'none' ? null : period;
  return Object.keys(out).length > 0 ? out : undefined;
}

// One cell for a key's limits: `rpm=600 tpm=200000 concurrent=16 tokens=5000000/month`.
export function limitsText(l: KeyLimits): string {
  const period = l.budget_period ?? 'month';
  const parts = [
    l.requests_per_minute !== null && `rpm=${l.requests_per_minute}`,
    l.tokens_per_minute !== null && `tpm=${l.tokens_per_minute}`,
    l.max_concurrent_requests !== null && `concurrent=${l.max_concurrent_requests}`,
    l.token_budget !== null && `tokens=${l.token_budget}/${period}`,
    l.spend_budget_usd !== null && `usd=${l.spend_budget_usd}/${period}`,
  ].filter((p): p is string => typeof p === 'string');
  return parts.length > 0 ? parts.join(' ') : 'none';
}

// `keys get`: the key's standing below its row.
export function standingText(k: ApiKeyDetail): string {
  const until = k.period.end === null ? 'never resets' : `resets ${isoTime(k.period.end)}`;
  const lines = [
    `period: ${k.period.name} from ${isoTime(k.period.start)} (${until})`,
    `used: ${k.used.requests} requests, ${k.used.tokens} tokens, $${k.used.spend_usd}; ${k.in_flight} in flight`,
  ];
  if (k.token_budget) {
    lines.push(`token budget: ${k.token_budget.remaining} of ${k.token_budget.limit} left`);
  }
  if (k.spend_budget_usd) {
    lines.push(
      `spend budget: $${k.spend_budget_usd.remaining} of $${k.spend_budget_usd.limit} left`,
    );
  }
  for (const [name, r] of [
    ['requests per minute', k.requests_per_minute],
    ['tokens per minute', k.tokens_per_minute],
  ] as const) {
    if (r) lines.push(`${name}: ${r.remaining} of ${r.limit} left, resets in ${r.reset}`);
  }
  return lines.join('\n');
}

interface Invocation {
  args: string[];
  json: boolean;
}

export interface LimitCommandsDeps {
  flags: <T extends NonNullable<ParseArgsConfig['options']>>(
    inv: Invocation,
    options: T,
  ) => { values: Record<string, string | boolean | undefined>; positionals: string[] };
  show: (inv: Invocation, json: unknown, text: () => string) => string;
}

const priceColumns = [
  'model',
  'input_usd_per_mtok',
  'output_usd_per_mtok',
  'usd_per_image',
  'updated',
];

function imagePrice(raw: string | boolean): number {
  const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  if (!Number.isFinite(n)) throw new CliError('--image takes US dollars per image, e.g. 0.02');
  return n;
}

function price(raw: string | boolean | undefined, flag: string): number {
  const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  if (!Number.isFinite(n))
    throw new CliError(`--${flag} (US dollars per million tokens) is required`);
  return n;
}

function model(positionals: string[]): string {
  const name = positionals[0];
  if (!name) throw new CliError('a model name is required');
  // Model names may hold slashes; each segment is encoded, the slashes kept.
  return name.split('/').map(encodeURIComponent).join('/');
}

export function priceCommands(d: LimitCommandsDeps) {
  return {
    'prices set': {
      async run(api: AdminApi, inv: Invocation) {
        const p = d.flags(inv, {
          input: { type: 'string' },
          output: { type: 'string' },
          image: { type: 'string' },
        });
        // An image model may be priced per image alone: its token prices then default to 0.
        const perImage = p.values.image === undefined ? null : imagePrice(p.values.image);
        const tokens = (raw: string | boolean | undefined, flag: string) =>
          perImage !== null && raw === undefined ? 0 : price(raw, flag);
        const res = await api.call(ModelPriceSchema, `prices/${model(p.positionals)}`, {
          method: 'PUT',
          body: {
            input_usd_per_mtok: tokens(p.values.input, 'input'),
            output_usd_per_mtok: tokens(p.values.output, 'output'),
            usd_per_image: perImage,
          },
        });
        return d.show(inv, res.json, () =>
          table([{ ...res.data, updated: isoTime(res.data.updated_at) }], priceColumns),
        );
      },
    },
    'prices list': {
      async run(api: AdminApi, inv: Invocation) {
        const res = await api.call(ModelPriceListSchema, 'prices');
        return d.show(inv, res.json, () =>
          table(
            res.data.data.map((p) => ({ ...p, updated: isoTime(p.updated_at) })),
            priceColumns,
          ),
        );
      },
    },
    'prices rm': {
      async run(api: AdminApi, inv: Invocation) {
        const p = d.flags(inv, {});
        const res = await api.call(DeletedModelPriceSchema, `prices/${model(p.positionals)}`, {
          method: 'DELETE',
        });
        return d.show(inv, res.json, () => `removed the price of ${res.data.model}`);
      },
    },
  };
}
