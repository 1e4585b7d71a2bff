// The database keeps unix milliseconds; the API speaks unix seconds (like OpenAI's
// `created`) and also accepts ISO 8601 strings where a time goes in.
import { z } from 'zod';

export const toUnixSeconds = (ms: number): number => Math.floor(ms / 1000);
export const toUnixSecondsOrNull = (ms: number | null): number | null =>
  ms === null ? null : toUnixSeconds(ms);

// Unix seconds (a number, or digits in a string such as a query parameter) or an ISO 8601
// date-time; parsed to unix milliseconds.
export const TimeInputSchema = z
  .union([z.number(), z.string().min(1).max(64)])
  .transform((value, ctx): number => {
    if (typeof value === 'number' || /^\d+(\.\d+)?$/.test(value)) {
      const seconds = Number(value);
      if (Number.isFinite(seconds) && seconds >= 0 && seconds < 1e11) {
        return Math.round(seconds * 1000);
      }
    } else {
      const ms = Date.parse(value);
      if (Number.isFinite(ms)) return ms;
    }
    ctx.addIssue({ code: 'custom', message: 'expected unix seconds or an ISO 8601 date-time' });
    return z.NEVER;
  });
