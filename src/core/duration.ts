import { UdsError } from './errors.js';

const UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parse `500ms`, `2s`, `1.5s`, `1m`, `250us` or bare milliseconds (`250`) into milliseconds.
 * `what` names the option in the error message.
 */
export function parseDuration(text: string, what = 'duration'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|m|h)?\s*$/.exec(String(text));
  if (!m) {
    throw new UdsError('BAD_DURATION', `${what} must be a duration like 500ms, 2s or 1m (got "${text}")`);
  }
  const ms = Number(m[1]) * UNITS[m[2] ?? 'ms'];
  if (!Number.isFinite(ms)) throw new UdsError('BAD_DURATION', `${what} is out of range (got "${text}")`);
  return ms;
}

/** Render milliseconds for people: 850us, 12.3ms, 2.00s. */
export function formatDuration(ms: number): string {
  if (ms < 1) return `${Math.round(ms * 1000)}us`;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : Math.round(ms)}ms`;
  return `${(ms / 1000).toFixed(2)}s`;
}
