/**
 * `udsctl bench`'s command line: options, defaults and help text (the command
 * itself is src/commands/bench.ts, loaded when it runs; the limits and
 * defaults are src/core/bench/options.ts's).
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { END_RULE_HELP } from '../core/framing/end-rule.js';
import { BENCH_DEFAULTS, MAX_CONNECTIONS, MAX_PIPELINE, MAX_WORKERS, parseRate } from '../core/bench/options.js';
import { type Threshold, parseThreshold } from '../core/bench/thresholds.js';
import { BENCH_ENGINES, BENCH_MODES } from '../core/bench/types.js';
import { processIo } from '../io.js';
import { MAX_BENCH_SIZE, durationOption, intOption, sizeOption, untilOption } from '../options.js';
import { addProtocolOptions } from '../protocol-options.js';
import { Done, ESCAPES_HELP, LITERAL_FLAG } from './common.js';

/** `udsctl bench`: its options, help text and action. */
export function defineBench(program: Command): void {
  const command = program
    .command('bench')
    .description("measure a socket server's throughput and latency (no target: udsctl's own server)")
    .argument('[target]', "socket path, @name, or host:port (omitted: udsctl's own server on a temporary socket)")
    .addOption(new Option('-m, --mode <mode>', 'oneshot: connect, send, read to the end rule, close, per request; persistent: requests repeat over open connections').choices(BENCH_MODES).default(BENCH_DEFAULTS.mode))
    .addOption(new Option('-c, --connections <n>', 'connections (persistent) or requests in flight at once (oneshot); -c as autocannon, wrk').default(BENCH_DEFAULTS.connections).argParser(intOption('--connections', 1, MAX_CONNECTIONS)))
    .addOption(new Option('-p, --pipeline <k>', 'requests in flight per connection (persistent)').default(BENCH_DEFAULTS.pipeline).argParser(intOption('--pipeline', 1, MAX_PIPELINE)))
    .addOption(new Option('-d, --duration <duration>', 'length of the measured run (default: 10s, or until --requests are done)').argParser(durationOption('--duration')))
    .addOption(new Option('-n, --requests <n>', 'stop after N measured requests').argParser(intOption('--requests', 1, 2 ** 31 - 1)))
    .addOption(new Option('--warmup <duration>', 'unmeasured load before the measured run').default(BENCH_DEFAULTS.warmup, '0s').argParser(durationOption('--warmup')))
    .option('--payload <text>', 'request to send (escapes like \\n understood; persistent with --until line: a missing newline is added)', undefined)
    .addOption(new Option('--size <bytes>', 'send requests of this many bytes (x..x and a newline) instead of --payload; at most 64MiB').argParser(sizeOption('--size', 1, MAX_BENCH_SIZE)))
    .addOption(new Option('-u, --until <rule>', `end of reply: ${END_RULE_HELP} (default: eof for oneshot, line for persistent)`).argParser(untilOption))
    .option('-e, --expect <text>', 'each reply must contain TEXT (escapes understood); others count as MISMATCH errors')
    .option(LITERAL_FLAG, 'take --payload and --expect as written: no escapes')
    .addOption(new Option('-t, --timeout <duration>', 'bound on each request, from sending to the end of its reply (above 0)').default(BENCH_DEFAULTS.timeout, '5s').argParser(durationOption('--timeout', { positive: true })))
    .addOption(new Option('--connect-timeout <duration>', 'bound on connecting (a full backlog is retried until then; above 0)').default(BENCH_DEFAULTS.connectTimeout, '5s').argParser(durationOption('--connect-timeout', { positive: true })))
    .option('-N, --half-close', 'oneshot: shut down our write side after sending (for servers that read to end-of-file)')
    .addOption(new Option('-R, --rate <n>', 'open loop: start N requests a second on a fixed schedule; latency counts from each scheduled start').argParser(parseRate))
    .addOption(new Option('--workers <n>', "load-generating threads (default: half the cores; with udsctl's own server, all but one)").argParser(intOption('--workers', 1, MAX_WORKERS)))
    .addOption(new Option('--engine <engine>', 'epoll: raw sockets and epoll (Linux, fastest); net: node:net (portable); auto: epoll where available').choices(BENCH_ENGINES).default(BENCH_DEFAULTS.engine))
    .addOption(new Option('--type <type>', 'socket type of a Unix target: stream (default) or seqpacket (epoll engine; each request one message, the reply one message unless --until)').choices(['stream', 'seqpacket']))
    .option('--json', 'print the whole result (percentiles, timeline, errors) as JSON on stdout; no progress line')
    .option('--compare <base.json>', 'compare with a saved --json run: change of req/s and percentiles, 95% interval, significance')
    .option('--input <run.json>', 'report a saved --json run instead of running one (with --compare: compare two saved runs)')
    .addOption(new Option('--noise <pct>', 'with --compare: a smaller change is never better or worse (default per metric: req/s, p50 5%; p90 10%; p99 40%; p99.9 50%)').argParser(noiseFloor))
    .addOption(new Option('--fail-if <expr>', "exit 13 when EXPR holds: 'p99>2ms', 'rps<10k', 'errors>0', with --compare 'rps<-10%' (repeatable)").argParser(benchThreshold))
    .option('--summary <file>', 'write a Markdown summary to FILE; "github": append it to $GITHUB_STEP_SUMMARY')
    .option('--hgrm <file>', "write the latency histogram as HdrHistogram's .hgrm percentile distribution (ms, as wrk2)")
    .addHelpText(
      'after',
      `
${ESCAPES_HELP}

Closed loop by default: each connection sends its next request when the last
one ends. --rate: open loop; a stalled server shows in the latency (measured
from each request's scheduled start), never as fewer samples.

Latency is recorded in an HDR histogram (3 significant digits, sub-microsecond
resolution). Errors are counted by class (REFUSED, REPLY_TIMEOUT, NEVER_CLOSED,
RESET, CLOSED_EARLY, MISMATCH, ...); a persistent connection that cannot be
reopened counts each failed attempt (backing off to 250ms). Exit status: 0 when
no request failed, else the status of the most frequent error (see udsctl
--help); 130 when interrupted (Ctrl-C) before any request finished; 13 when a
--fail-if threshold was crossed (it wins over the status of errors).

Findings name what the numbers mean, with a cause and a fix: connections a
server never served, a server that closes after each response (persistent) or
never closes (oneshot), a rate that collapsed mid-run. The rate is over the
measured window; requests still in flight after it get at most one --timeout.

CI: save a run with --json > base.json; later runs compare with --compare
base.json (per-second samples, Mann-Whitney U at alpha 0.05, "no significant
difference" when noise explains it) and gate with --fail-if.

Examples:
  udsctl bench                                          # udsctl's own server, 10s
  udsctl bench /tmp/odc_ws.sock
  udsctl bench --mode persistent -c 64 --pipeline 4 /run/app.sock
  udsctl bench --rate 20k -d 30s --json /run/app.sock > bench.json
  udsctl bench --fastcgi /ping -c 4 /run/php/php8.2-fpm.sock
  udsctl bench -d 20s --compare base.json --fail-if 'rps<-10%' /run/app.sock
  udsctl bench --input new.json --compare base.json --summary github`,
    )
    .action(async (target: string | undefined, opts) => {
      const { runBenchCommand } = await import('../commands/bench.js');
      throw new Done(await runBenchCommand(target, opts, processIo()));
    });
  // Protocols (issue 11): --http, --resp and their companions.
  addProtocolOptions(command, 'bench');
  command.addHelpText('after', PROTOCOL_EXAMPLES);
}

/** bench --fail-if: each expression parsed as it comes (a bad one is a usage error), collected in order. */
/** --noise 2%: a fraction (0.02); 0 turns the floor off. */
function noiseFloor(text: string): number {
  const m = /^(\d+(?:\.\d+)?)%$/.exec(text.trim());
  if (!m || Number(m[1]) >= 100) throw new InvalidArgumentError(`a percent from 0% to 99%, like 5% (got "${text}")`);
  return Number(m[1]) / 100;
}

function benchThreshold(text: string, list: Threshold[] = []): Threshold[] {
  try {
    return [...list, parseThreshold(text)];
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** Help examples of the protocol flags. */
const PROTOCOL_EXAMPLES = `
Protocols (keep-alive for --mode persistent; Connection: close per request for oneshot):
  udsctl bench --http / --mode persistent -c 32 /run/nginx.sock
  udsctl bench --resp PING --mode persistent -c 50 /run/redis/redis.sock`;
