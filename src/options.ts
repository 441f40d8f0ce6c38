/**
 * Option parse functions shared by the commands: each throws a one-line
 * message commander prints as a usage error.
 */
import { InvalidArgumentError } from 'commander';
import { type DurationLimits, parseDuration } from './core/duration.js';
import { parseEndRule, type EndRule } from './core/framing/end-rule.js';
import { UdsError } from './core/errors.js';

/** fn's UdsError as commander's InvalidArgumentError: a usage error in commander's words. */
export function asOptionError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof UdsError) throw new InvalidArgumentError(err.message);
    throw err;
  }
}

/** `--timeout 2s` etc.: at most 2^31-1 ms (Node's timers); `{ positive: true }` refuses 0 too. */
export const durationOption =
  (name: string, limits: DurationLimits = {}) =>
  (value: string): number =>
    asOptionError(() => parseDuration(value, name, limits));

/** A whole number within [min, max]. */
export const intOption =
  (name: string, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`${name} must be a whole number (got "${value}")`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max} (got ${n})`);
    return n;
  };

/** The largest size any option takes by default: 1 GiB (a Buffer that size is still allocatable). */
export const MAX_SIZE = 1024 ** 3;

/** bench --size: each worker holds the request; larger is not an IPC benchmark. */
export const MAX_BENCH_SIZE = 64 * 1024 ** 2;

/** Bytes as people write them: 1MiB, 64KiB, 100B. */
export function formatSize(n: number): string {
  for (const [unit, f] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) if (n >= f && n % f === 0) return `${n / f}${unit}`;
  return `${n}B`;
}

/** A byte size: 512, 4k, 1MiB, 8M; from `min` to `max` (default 1 GiB). */
export const sizeOption =
  (name: string, min = 0, max = MAX_SIZE) =>
  (value: string): number => {
    const m = /^\s*(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$/i.exec(value);
    if (!m) throw new InvalidArgumentError(`${name} must be a size like 512, 64k or 8MiB (got "${value}")`);
    const unit = (m[2] ?? 'b').toLowerCase()[0];
    const n = Number(m[1]) * ({ b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as Record<string, number>)[unit];
    if (n < min) throw new InvalidArgumentError(`${name} must be at least ${min} bytes (got "${value}")`);
    if (!(n <= max)) throw new InvalidArgumentError(`${name} must be at most ${formatSize(max)} (got "${value}")`);
    return n;
  };

/** `--until line` etc. */
export const untilOption = Object.assign((value: string): EndRule => asOptionError(() => parseEndRule(value)), {
  /** Offered by shell completion (delim:, bytes:N and idle:DURATION take a value of the user's). */
  choices: ['eof', 'line', 'len:4be', 'len:4le', 'len:2be', 'len:1'] as const,
});

/** One of a fixed list. The parser carries the list (`.choices`), for shell completion. */
export const choiceOption = <T extends string>(name: string, choices: readonly T[]) =>
  Object.assign(
    (value: string): T => {
      if (!(choices as readonly string[]).includes(value)) {
        throw new InvalidArgumentError(`${name} must be one of ${choices.join(', ')} (got "${value}")`);
      }
      return value as T;
    },
    { choices },
  );

/** An octal file mode like 0660 or 660. */
export const modeOption = (value: string): number => {
  if (!/^0?[0-7]{3}$/.test(value)) throw new InvalidArgumentError(`--perm must be an octal mode like 0660 (got "${value}")`);
  return parseInt(value, 8);
};
