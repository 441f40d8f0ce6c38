import type { ChalkInstance } from 'chalk';
import { formatDuration } from '../core/duration.js';
import type { ConnectionLog } from '../core/server.js';

const clip = (s: string | undefined, n = 40): string => {
  if (s === undefined) return '-';
  const j = JSON.stringify(s);
  return j.length > n ? `${j.slice(0, n - 2)}…"` : j;
};

const BAD: ReadonlySet<string> = new Set(['client-reset', 'reset', 'idle-timeout', 'max-bytes', 'over-max-conns', 'error']);

/** One human line per connection. */
export function connectionLine(log: ConnectionLog, c: ChalkInstance): string {
  const end = BAD.has(log.end) ? c.yellow(log.end) : log.end === 'left-open' ? c.yellow(log.end) : c.green(log.end);
  return (
    `${c.dim(log.at)} #${log.id} in=${log.bytesIn}B out=${log.bytesOut}B req=${clip(log.request)} ` +
    `reply=${clip(log.reply)} ${formatDuration(log.durationUs / 1000)} ${end}` +
    (log.reason ? c.dim(` (${log.reason})`) : '')
  );
}
