/**
 * What a bench run's numbers mean, as data: the findings table (each code's
 * title, cause and fix; README and the man page list it) and the judges that
 * read a finished BenchResult. Pure: result in, findings out.
 */
import type { BenchFinding, BenchResult, PerConnection, TimelineEntry } from './types.js';

export interface BenchFindingInfo {
  code: string;
  title: string;
  cause: string;
  fix: string;
}

/** Every finding bench can report; codes are stable. */
export const BENCH_FINDINGS = [
  {
    code: 'UNSERVED_CONNECTIONS',
    title: 'connections never served',
    cause:
      'the server handles a fixed number of connections at a time (a worker pool: php-fpm pm.max_children, a thread pool, a blocking accept loop) and leaves the others waiting',
    fix: "bench with -c at most the server's concurrency, or raise it (php-fpm: pm.max_children); -m oneshot queues requests instead of connections",
  },
  {
    code: 'STARVED_CONNECTIONS',
    title: 'connections starved',
    cause: 'the server served some connections far less than others (under a tenth of the median): unfair scheduling, or a pool smaller than -c',
    fix: "compare -c with the server's workers; the rate is that of the connections served, not of all of them",
  },
  {
    code: 'CLOSES_EACH_RESPONSE',
    title: 'the server closes after each response',
    cause: 'a persistent run, but the server closed the connection after (about) every reply: no keep-alive (uwsgi --http-socket, HTTP/1.0, a one-shot protocol)',
    fix: "bench with -m oneshot, or turn the server's keep-alive on (uwsgi: --http11-socket or --http-keepalive; nginx: keepalive_requests)",
  },
  {
    code: 'NEVER_CLOSES',
    title: 'the server keeps the connection open',
    cause: 'a one-shot run reads each reply to end-of-file, but the server keeps the connection open after replying (memcached, redis, a line protocol)',
    fix: "bench with -m persistent, or give the reply's end (--until line, --http, --resp) so a one-shot request ends at its reply",
  },
  {
    code: 'RATE_COLLAPSE',
    title: 'the rate collapsed mid-run',
    cause: 'the server slowed down or stopped answering partway (a pool or queue exhausted, a pause, a leak, the server died)',
    fix: "look at the timeline from the second named, and at the server's log and resources at that moment",
  },
] as const satisfies readonly BenchFindingInfo[];

export type BenchFindingCode = (typeof BENCH_FINDINGS)[number]['code'];

function finding(code: BenchFindingCode, detail: string): BenchFinding {
  const row = BENCH_FINDINGS.find((f) => f.code === code)!;
  return { code, title: row.title, detail, cause: row.cause, fix: row.fix };
}

/** A connection served less than this fraction of the median is starved. */
const STARVED_FRACTION = 0.1;
/** A second below this fraction of the rate before it is a collapse. */
const COLLAPSE_FRACTION = 0.25;
/** Reopenings per reply from which a persistent run's server is said to close after each response. */
const CLOSES_PER_REPLY = 0.5;

const CONNECT_CODES = new Set(['REFUSED', 'NOT_FOUND', 'NOT_A_SOCKET', 'PERMISSION_DENIED', 'CONNECT_TIMEOUT', 'BACKLOG_FULL', 'TOO_MANY_FILES']);

/**
 * A whole number with its thousands grouped, as en-US writes it ("12,345"): by hand, because the
 * first toLocaleString of a process loads ICU, ~30 ms of CPU, more than a whole short bench run's report.
 */
export const formatCount = (n: number): string => String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
const int = formatCount;

/** Requests per connection: min, median, max; the unserved and the starved. Null for no connections. */
export function perConnection(served: readonly number[]): PerConnection | null {
  const n = served.length;
  if (n === 0) return null;
  const s = [...served].sort((a, b) => a - b);
  const median = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  let unserved = 0;
  let starved = 0;
  for (const v of s) {
    if (v === 0) unserved++;
    else if (v < median * STARVED_FRACTION) starved++;
  }
  return { connections: n, min: s[0], median, max: s[n - 1], unserved, starved };
}

/** The rate of a timeline second (req/s); null for a short last sliver. */
function rateOf(t: TimelineEntry): number | null {
  return t.durationMs >= 900 ? (t.requests * 1000) / t.durationMs : null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** The first whole second whose rate is under a quarter of the median of the seconds before it. */
export function rateCollapse(timeline: TimelineEntry[]): { second: number; before: number; after: number; recoveredAt: number | null } | null {
  const rates: { second: number; rate: number }[] = [];
  for (const t of timeline) {
    const r = rateOf(t);
    if (r !== null) rates.push({ second: t.second, rate: r });
  }
  for (let i = 1; i < rates.length; i++) {
    const before = median(rates.slice(0, i).map((x) => x.rate));
    if (before < 10 || rates[i].rate >= before * COLLAPSE_FRACTION) continue;
    let after = rates[i].rate;
    let recoveredAt: number | null = null;
    for (let j = i + 1; j < rates.length; j++) {
      if (rates[j].rate >= before * 0.5) {
        recoveredAt = rates[j].second;
        break;
      }
      after = Math.min(after, rates[j].rate);
    }
    return { second: rates[i].second, before, after, recoveredAt };
  }
  return null;
}

/** The findings of a finished run, most telling first. */
export function judgeBench(r: Omit<BenchResult, 'findings'>): BenchFinding[] {
  const out: BenchFinding[] = [];
  const pc = r.perConnection;
  if (pc && pc.unserved > 0 && pc.unserved < pc.connections) {
    const served = pc.connections - pc.unserved;
    out.push(
      finding(
        'UNSERVED_CONNECTIONS',
        `${int(pc.unserved)} of ${int(pc.connections)} connections got no reply: the server serves ${int(served)} at a time`,
      ),
    );
  }
  if (pc && pc.starved > 0) {
    out.push(
      finding(
        'STARVED_CONNECTIONS',
        `${int(pc.starved)} of ${int(pc.connections)} connections got under a tenth of the median (${int(pc.median)} requests; min ${int(pc.min)}, max ${int(pc.max)})`,
      ),
    );
  }
  // Reopenings that worked: a failed attempt (a dead server) is also an error of a connect code.
  const failedConnects = r.errors.filter((e) => CONNECT_CODES.has(e.code)).reduce((a, e) => a + e.count, 0);
  const reopened = r.reconnects - failedConnects;
  if (r.mode === 'persistent' && reopened >= 10 && r.requests.ok > 0 && reopened >= r.requests.ok * CLOSES_PER_REPLY) {
    const every = r.requests.ok / reopened;
    out.push(
      finding(
        'CLOSES_EACH_RESPONSE',
        `${int(reopened)} reconnects for ${int(r.requests.ok)} replies: the server closed the connection after ${every < 1.5 ? 'every reply' : `about every ${every.toFixed(1)} replies`}`,
      ),
    );
  }
  if (r.mode === 'oneshot') {
    const nc = r.errors.find((e) => e.code === 'NEVER_CLOSED');
    if (nc && nc.count * 2 >= r.requests.errors) {
      out.push(
        finding(
          'NEVER_CLOSES',
          `${int(nc.count)} of ${int(r.requests.total)} requests got a reply but the connection stayed open until --timeout (${r.timeoutMs}ms): NEVER_CLOSED`,
        ),
      );
    }
  }
  const c = rateCollapse(r.timeline);
  if (c) {
    out.push(
      finding(
        'RATE_COLLAPSE',
        `the rate fell from ${int(c.before)} req/s to ${int(c.after)} req/s at second ${c.second}` +
          (c.recoveredAt === null ? ' and did not recover' : `, and recovered at second ${c.recoveredAt}`) +
          ' (timeline)',
      ),
    );
  }
  return out;
}
