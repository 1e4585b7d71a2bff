// How limits show to clients, in OpenAI's terms: the x-ratelimit-* headers on every
// answer, and the 429 bodies the SDKs turn into RateLimitError.
import { ApiError } from '../errors.ts';
import type { RateFigures, RateReport, Refusal } from './arithmetic.ts';

// A duration as OpenAI writes it in x-ratelimit-reset-*: `120ms`, `1s`, `1.5s`, `6m0s`,
// `1h2m3s` (Go's time.Duration format, rounded up to the millisecond).
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms));
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const seconds = (total % 60_000) / 1000;
  const s = `${Number.isInteger(seconds) ? seconds : seconds.toFixed(3).replace(/0+$/, '')}s`;
  if (hours > 0) return `${hours}h${minutes}m${s}`;
  if (minutes > 0) return `${minutes}m${s}`;
  return s;
}

function put(headers: Record<string, string>, kind: string, f: RateFigures | null) {
  if (!f) return;
  headers[`x-ratelimit-limit-${kind}`] = String(f.limit);
  headers[`x-ratelimit-remaining-${kind}`] = String(f.remaining);
  headers[`x-ratelimit-reset-${kind}`] = formatDuration(f.resetMs);
}

export function rateLimitHeaders(report: RateReport): Record<string, string> {
  const headers: Record<string, string> = {};
  put(headers, 'requests', report.requests);
  put(headers, 'tokens', report.tokens);
  return headers;
}

const usd = (n: number) => `$${n.toFixed(6).replace(/\.?0+$/, '')}`;

const WHAT: Record<Refusal['limit'], string> = {
  requests_per_minute: 'requests per minute (RPM)',
  tokens_per_minute: 'tokens per minute (TPM)',
  max_concurrent_requests: 'concurrent requests',
  token_budget: 'token budget',
  spend_budget_usd: 'spend budget',
};

// The 429 for a refused request: rate limits as `rate_limit_exceeded` (type `requests` or
// `tokens`, as OpenAI), budgets as `insufficient_quota`; retry-after in whole seconds.
export function refusalError(refusal: Refusal, report: RateReport, period?: string): ApiError {
  const headers = rateLimitHeaders(report);
  if (refusal.retryAfterMs !== null) {
    headers['retry-after'] = String(Math.max(1, Math.ceil(refusal.retryAfterMs / 1000)));
    headers['retry-after-ms'] = String(Math.max(0, Math.ceil(refusal.retryAfterMs)));
  }
  const what = WHAT[refusal.limit];
  const retry =
    refusal.retryAfterMs === null
      ? ''
      : ` Please try again in ${formatDuration(refusal.retryAfterMs)}.`;
  if (refusal.limit === 'token_budget' || refusal.limit === 'spend_budget_usd') {
    const money = refusal.limit === 'spend_budget_usd';
    const fmt = money ? usd : String;
    const message =
      `This API key's ${what} for the ${period ?? 'current'} period is used up: ` +
      `Limit ${fmt(refusal.max)}, Used ${fmt(refusal.used)}, Requested ${fmt(refusal.requested)}.` +
      retry;
    return new ApiError(429, 'insufficient_quota', message, 'insufficient_quota', null, {
      headers,
    });
  }
  const type = refusal.limit === 'tokens_per_minute' ? 'tokens' : 'requests';
  const tooLarge =
    refusal.limit === 'tokens_per_minute' && refusal.retryAfterMs === null
      ? ' The request alone is larger than the limit: lower max_tokens or the prompt.'
      : '';
  const message =
    `Rate limit reached for this API key on ${what}: ` +
    `Limit ${refusal.max}, Used ${refusal.used}, Requested ${refusal.requested}.` +
    retry +
    tooLarge;
  return new ApiError(429, type, message, 'rate_limit_exceeded', null, { headers });
}
