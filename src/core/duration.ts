import { UdsError } from './errors.js';

const UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * The longest duration a timer can wait: Node's setTimeout takes a signed
 * 32-bit count of milliseconds and turns anything larger into 1 ms, which
 * would make a long timeout fire at once.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

export interface DurationLimits {
  /** Must be above 0 (a timeout of 0 would fire before any reply could arrive). */
  positive?: boolean;
}

/**
 * Parse `500ms`, `2s`, `1.5s`, `1m`, `250us` or bare milliseconds (`250`) into milliseconds.
 * `what` names the option in the error message. Above MAX_DURATION_MS (about
 * 24.8 days) is an error; with `positive`, so is 0.
 */
export function parseDuration(text: string, what = 'duration', limits: DurationLimits = {}): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|m|h)?\s*$/.exec(String(text));
  if (!m) {
    throw new UdsError('BAD_DURATION', `${what} must be a duration like 500ms, 2s or 1m (got "${text}")`);
  }
  const ms = Number(m[1]) * UNITS[m[2] ?? 'ms'];
  return checkDuration(ms, what, limits, `"${text}"`);
}

/**
 * Check a duration in milliseconds given by a library caller (or parsed): a
 * finite number from 0 (above 0 with `positive`) to MAX_DURATION_MS. Returns it.
 */
export function checkDuration(ms: unknown, what: string, limits: DurationLimits = {}, shown = String(ms)): number {
  if (typeof ms !== 'number' || Number.isNaN(ms) || ms < 0) {
    throw new UdsError('BAD_DURATION', `${what} must be a finite number of milliseconds >= 0 (got ${shown})`);
  }
  if (ms > MAX_DURATION_MS) {
    // Infinity too: there is no timer that long.
    throw new UdsError('BAD_DURATION', `${what} must be at most ${MAX_DURATION_MS}ms (about 24.8 days; got ${shown})`);
  }
  if (limits.positive && ms <= 0) throw new UdsError('BAD_DURATION', `${what} must be above 0 (got ${shown})`);
  return ms;
}

/** Render milliseconds for people: 850us, 12.3ms, 2.00s. */
export function formatDuration(ms: number): string {
  if (ms < 1) return `${Math.round(ms * 1000)}us`;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : Math.round(ms)}ms`;
  return `${(ms / 1000).toFixed(2)}s`;
}
