// Formatting and small pure helpers shared by the pages.
import type { UsageRow } from '../../../schema/admin.ts';

export function fmtNumber(n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined) return '–';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits });
}

export function fmtMib(mib: number | undefined): string {
  if (mib === undefined) return '–';
  return mib >= 1024 ? `${(mib / 1024).toFixed(1)} GiB` : `${Math.round(mib)} MiB`;
}

export function fmtTime(unixSeconds: number | null | undefined): string {
  if (unixSeconds === null || unixSeconds === undefined) return 'never';
  return new Date(unixSeconds * 1000).toISOString().replace('T', ' ').slice(0, 19);
}

export function fmtAgo(unixSeconds: number | null | undefined, now = Date.now()): string {
  if (unixSeconds === null || unixSeconds === undefined) return 'never';
  const s = Math.max(0, Math.round(now / 1000 - unixSeconds));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

// One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. A leading
// =, +, - or @ is prefixed with ' so a spreadsheet does not run it as a formula.
export function csvField(value: string | number | null): string {
  if (value === null) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export const USAGE_COLUMNS = [
  'group',
  'requests',
  'errors',
  'prompt_tokens',
  'completion_tokens',
  'total_tokens',
  'spend_usd',
  'images',
  'audio_seconds',
  'avg_latency_ms',
  'avg_ttft_ms',
] as const satisfies readonly (keyof UsageRow)[];

export function usageCsv(rows: readonly UsageRow[], groupName: string): string {
  const header = [groupName, ...USAGE_COLUMNS.slice(1)].join(',');
  const lines = rows.map((r) => USAGE_COLUMNS.map((c) => csvField(r[c])).join(','));
  return `${[header, ...lines].join('\r\n')}\r\n`;
}

// Parses "a, b ,c" into ['a','b','c']; empty means null (every model).
export function listOrNull(text: string): string[] | null {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return items.length > 0 ? items : null;
}

// A positive number from a form field, or null when it is empty.
export function numberOrNull(text: string): number | null {
  const t = text.trim();
  if (t === '') return null;
  const n = Number(t);
  if (!Number.isFinite(n)) throw new Error(`'${text}' is not a number`);
  return n;
}

// A text field of a submitted form ('' when absent or a file).
export function fieldText(form: FormData, name: string): string {
  const value = form.get(name);
  return typeof value === 'string' ? value : '';
}
