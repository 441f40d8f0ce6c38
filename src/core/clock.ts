/** Monotonic clock in microseconds (float), from process.hrtime. */
export function nowUs(): number {
  return Number(process.hrtime.bigint()) / 1000;
}

/**
 * Monotonic milliseconds. Used instead of performance.now(): the first touch of
 * the `performance` global loads perf_hooks and friends, which every start of
 * the CLI would pay.
 */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
