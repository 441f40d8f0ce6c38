/** Monotonic clock in microseconds (float), from process.hrtime. */
export function nowUs(): number {
  return Number(process.hrtime.bigint()) / 1000;
}
