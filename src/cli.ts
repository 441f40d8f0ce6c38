/**
 * Commander wiring only: options, defaults and help text. Each action loads its
 * command module lazily (start-up time matters for a CLI CI calls thousands of
 * times) and this is the one place that turns results into an exit status.
 *
 * About 420 lines: every command's options and help text in one place, which
 * test/docs.test.ts checks against the README and the man page.
 */
import { readFileSync } from 'node:fs';
import { Argument, Command, CommanderError, Help, InvalidArgumentError, Option } from 'commander';
import { SHELLS } from './commands/completion.js';
import { END_RULE_HELP } from './core/framing/end-rule.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_TIMEOUT_MS, DEFAULT_TIMEOUT_TEXT } from './core/defaults.js';
import { DEFAULT_MAX_REPLY } from './core/exchange.js';
import { UdsError } from './core/errors.js';
import { escapeText } from './core/escape.js';
import { FAULTS, FAULT_HELP, READ_MODES, SERVE_DEFAULTS, SERVE_ENGINES, SERVE_LIMITS } from './core/serve/options.js';
import { ENGINE_TABLE_HEADER, engineSupportLines } from './core/serve/engines.js';
import { DEFAULT_PROBE_PAYLOAD, FINDINGS, PROBE_DEFAULTS } from './core/probe.js';
import { SERVICES, SERVICE_NAMES } from './core/service/index.js';
import { EXIT, EXIT_TABLE, exitStatusFor } from './exit-codes.js';
import { exactArgv, processIo } from './io.js';
import { fitHelp, helpColumns } from './render/help.js';
import { MAX_BENCH_SIZE, choiceOption, durationOption, intOption, modeOption, serviceOption, sizeOption, untilOption } from './options.js';
import { BENCH_DEFAULTS, MAX_CONNECTIONS, MAX_PIPELINE, MAX_WORKERS, parseRate } from './core/bench/options.js';
import { type Threshold, parseThreshold } from './core/bench/thresholds.js';
import { BENCH_ENGINES, BENCH_MODES } from './core/bench/types.js';
import { addProtocolOptions } from './protocol-options.js';
import { SOCKET_TYPES } from './core/socket/socket-type.js';
import { LS_SORTS, LS_TYPES } from './core/ls/options.js';

/** --type on send, probe, serve (issue 12): the Unix socket type. */
const typeOption = (what: string) => new Option('--type <type>', what).choices(SOCKET_TYPES);

const USAGE_CODES: ReadonlySet<string> = new Set(['BAD_TARGET', 'PATH_TOO_LONG', 'BAD_DURATION', 'BAD_OPTION', 'NOT_SUPPORTED']);

/** Exit status for a usage error, per command (probe answers UNKNOWN like a monitoring plugin). */
const usageStatus = (cmd: string): number => (cmd === 'probe' ? 3 : EXIT.USAGE);

/** Set by the bundler (scripts/bundle.mjs); read from package.json otherwise. */
declare const __UDSCTL_VERSION__: string | undefined;

function version(): string {
  if (typeof __UDSCTL_VERSION__ === 'string') return __UDSCTL_VERSION__;
  try {
    return JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

/** Raised by an action to end with a status (keeps process.exit in one place). */
class Done {
  constructor(readonly status: number) {}
}

const COMMANDS = ['send', 'serve', 'probe', 'bench', 'ls'] as const;

/**
 * The program; with `only`, just that subcommand (what a run of it needs:
 * defining the other three costs a few ms of every start).
 */
export function buildProgram(only?: (typeof COMMANDS)[number]): Command {
  const want = (name: (typeof COMMANDS)[number]) => only === undefined || only === name;
  const program = new Command('udsctl')
    .description('Diagnose Unix domain socket IPC (and TCP): send, serve, probe, bench')
    .version(version(), '-V, --version')
    .addHelpText(
      'after',
      `
Targets: /path/to.sock, ./rel.sock, unix:PATH, @abstract-name (Linux), host:port, tcp://host:port

Exit status (send, serve, bench; probe uses 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN):
${EXIT_TABLE.map((r) => `  ${String(r.status).padStart(3)}  ${r.meaning}`).join('\n')}

See 'udsctl <command> --help' and man udsctl.`,
    );

  if (want('send'))
    program
      .command('send')
      .description('send a message to a socket and print the reply; never hangs')
      .argument('<target>', 'socket path, @name, or host:port')
      .argument('[message]', 'message to send; "-" reads stdin (also read when stdin is piped and no message is given)')
      .option('-x, --hex', 'the message is hex digits ("48 69 0a")')
      .option('--escapes', 'understand escapes in stdin too (in a message argument they are understood anyway; kept for scripts written when they were not)')
      .option(LITERAL_FLAG, 'send the message argument as written: no escapes')
      .option('--newline', 'append a newline to the message (default: sent exactly as given)')
      .addOption(new Option('-u, --until <rule>', `end of reply: ${END_RULE_HELP}`).default(untilOption('eof'), 'eof').argParser(untilOption))
      .addOption(new Option('-t, --timeout <duration>', 'bound on the reply, from connect to end of reply: a hard deadline (above 0)').default(DEFAULT_TIMEOUT_MS, DEFAULT_TIMEOUT_TEXT).argParser(durationOption('--timeout', { positive: true })))
      .addOption(new Option('--connect-timeout <duration>', 'bound on connecting (above 0)').default(DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_TIMEOUT_TEXT).argParser(durationOption('--connect-timeout', { positive: true })))
      .option('-N, --half-close', 'shut down our write side after sending (for servers that read to end-of-file)')
      .option('-v, --verbose', 'print the timeline of the exchange to stderr')
      .option('--json', 'print the exchange record as JSON on stdout instead of the reply')
      .addOption(new Option('--max-reply <size>', 'bytes of reply kept for --json and -v (beyond: counted, "truncated": true); the reply on stdout is streamed whole').default(DEFAULT_MAX_REPLY, '1MiB').argParser(sizeOption('--max-reply')))
      // The interactive session (src/commands/send-session.ts).
      .option('--interactive', 'hold a session: stdin to the socket and the reply to stdout as they come, both at once (the default on a terminal with no message or "-")')
      .option('--crlf', 'in a session, send each newline as \\r\\n (line protocols such as SMTP, Redis)')
      .addOption(typeOption('Unix socket type (default: found out from /proc/net/unix, else by connecting): stream, seqpacket, dgram'))
      .addHelpText(
        'after',
        `
Datagram and seqpacket sockets: the message goes as one datagram (message).
dgram: done once the kernel took it, unless --until or --json asks for a
reply (then udsctl binds an address of its own and waits for one datagram).
seqpacket: the reply is one message unless --until says otherwise.

${ESCAPES_HELP} Bytes read from stdin are
sent as they are, unless -e.

The reply bytes go to stdout exactly as received, as they arrive; diagnostics
go to stderr. A message from stdin is streamed to the socket as it is read.
A server that replies but never closes: with --until eof (default) send waits
--timeout, prints the reply, says so on stderr and exits 8: a persistent
protocol needs --until (line, idle:, len:) or a protocol flag to end the reply.

Examples:
  udsctl send /tmp/odc_ws.sock hi
  udsctl send /run/app.sock 'GET / HTTP/1.0\\r\\n\\r\\n'
  printf 'PING\\r\\n' | udsctl send --until line /run/redis.sock
  udsctl send --json --until line @my-abstract-socket hi
  udsctl send --crlf /run/redis.sock              # a session: type PING, Enter
  udsctl send --fastcgi /status /run/php/php8.2-fpm.sock

A session (--interactive, or a terminal and no message): each line typed is
sent on Enter; replies are shown as they come, escaped, with their time in a
margin (raw bytes when stdout is not a terminal); Ctrl-D ends the input
(half-close) and waits up to --timeout for the server to close; Ctrl-C ends
it (exit 130). What was typed and not sent is discarded, never left for the
shell. With stdin piped, both directions stream at once, as with nc.
On seqpacket and dgram each line (typed or piped) is one message and each
message received one block; dgram binds an address of its own for the
replies, and Ctrl-D waits --timeout for more datagrams, then exits 0.`,
      )
      .action(async (target: string, message: string | undefined, opts, cmd: Command) => {
        const { runSend } = await import('./commands/send.js');
        opts.untilGiven = cmd.getOptionValueSource('until') !== 'default';
        const io = processIo();
        const status = await runSend(target, message, opts, io);
        // stdout's reader stopped reading: its pending write would hold us past --timeout.
        if (io.outputStuck) process.exit(status);
        throw new Done(status);
      });

  if (want('serve'))
    program
      .command('serve')
      .description('run the reference server (one-shot: read once, reply one line, close), with fault modes')
      .argument('<target>', 'socket path, @name, or host:port to listen on')
      .option('-r, --reply <text>', 'reply with TEXT (escapes like \\n understood; a newline is added unless it ends with one) instead of "OK+ at HH:MM:SS"')
      .option('--echo', 'reply with the request itself')
      .option('-k, --keep-alive', 'persistent line protocol: a reply for every line; the connection stays open')
      .addOption(new Option('--read <mode>', 'one-shot request framing: once (one read of up to 512 bytes), line, eof (until the client half-closes)').choices(READ_MODES).default('once'))
      .addOption(new Option('-f, --fault <fault>', `misbehave on purpose: ${FAULTS.join(' | ')}`).argParser(choiceOption('--fault', FAULTS)))
      .addOption(new Option('--delay <duration>', 'wait before replying (default: 1s with --fault slow, else 0)').argParser(durationOption('--delay')))
      .addOption(new Option('--perm <mode>', 'socket file mode, e.g. 0660, set at creation (no window with a wider mode)').argParser(modeOption))
      .option('--group <group>', 'group of the socket file (name or gid), e.g. www-data')
      .addOption(new Option('--count <n>', 'exit after N connections').argParser(intOption('--count', 1)))
      .addOption(new Option('--max-conns <n>', 'connections open at once; the excess are accepted and closed at once, and logged').argParser(intOption('--max-conns', 1)))
      .addOption(new Option('--max-bytes <size>', 'largest request; a client sending more is disconnected, and logged').default(SERVE_DEFAULTS.maxBytes, '1MiB').argParser(sizeOption('--max-bytes', 1, SERVE_LIMITS.maxBytes)))
      .addOption(new Option('--idle-timeout <duration>', 'close a connection idle this long: nothing received, or replies left untaken (0: never)').default(SERVE_DEFAULTS.idleTimeout, '60s').argParser(durationOption('--idle-timeout')))
      .addOption(new Option('--backlog <n>', 'listen(2) backlog').default(SERVE_DEFAULTS.backlog).argParser(intOption('--backlog', 1)))
      .addOption(new Option('--grace <duration>', 'on SIGINT/SIGTERM/SIGHUP, how long in-flight connections may finish').default(SERVE_DEFAULTS.graceTimeout, '5s').argParser(durationOption('--grace')))
      .addOption(new Option('--workers <n>', 'epoll engine: threads serving the socket; net engine: processes accepting on it (this one and N-1 forked copies); default 1, with --upstream on the net engine the cores (at most 4)').argParser(intOption('--workers', 1, SERVE_LIMITS.workers)))
      .addOption(new Option('--engine <engine>', 'epoll: epoll and raw sockets in worker threads (Linux, fastest); net: node:net (faults, --delay, TCP); auto: epoll when it can serve the options').choices(SERVE_ENGINES).default('auto'))
      // The tap (issue 12): relay to a real server instead of replying.
      .option('--upstream <target>', 'the tap: relay each connection (or message: a dgram or seqpacket TARGET) to TARGET (socket path, @name, host:port) and log both directions; --fault breaks its real replies')
      .option('--hexdump', 'with --upstream: show binary chunks as hex dumps (hexdump -C layout)')
      .addOption(new Option('--connect-timeout <duration>', 'with --upstream: bound on connecting to the upstream (default 5s; above 0)').argParser(durationOption('--connect-timeout', { positive: true })))
      .option('--json', 'log JSON lines (one per connection) on stderr')
      .option('-q, --quiet', 'no per-connection log')
      .addOption(typeOption('socket type: stream (default), seqpacket (a reply per message), dgram (log each datagram; --reply/--echo answer senders that bound an address)'))
      .addHelpText(
        'after',
        `
--type dgram logs every datagram (sender: address, pid, uid, gid, process
name from SCM_CREDENTIALS; size, bytes): point a service's NOTIFY_SOCKET at
it to see its READY=1 and STATUS= lines. --perm and --group apply to message
sockets too.

Faults:
${FAULTS.map((f) => `  ${f.padEnd(20)} ${FAULT_HELP[f]}`).join('\n')}

${ENGINE_TABLE_HEADER}
${engineSupportLines().map((l) => `  ${l}`).join('\n')}

A stale socket file (no listener) is replaced and reported; a path where a
server listens is refused (exit 11); a file, directory or symlink is never
deleted (exit 11). SIGINT/SIGTERM/SIGHUP: stop accepting, finish in-flight exchanges
within --grace, remove the socket file, exit 0.

The tap: with --upstream TARGET, each connection to LISTEN is relayed to
TARGET, logging each chunk (> client to upstream, < upstream to client), each
half-close (relayed as a half-close), close and reset, and which side ended
first. --fault, --delay, --max-conns, --idle-timeout, --count apply to the real
exchange (no-newline holds back the upstream's trailing newline; never-close
and silent keep the client open after the upstream closed). On a Unix
listener with a path, @name or numeric upstream, --engine auto relays on the
epoll engine, faults and --delay too (raw sockets in --workers threads,
default 1; the same log, written by its threads; about 4x less CPU a
connection). Otherwise the net engine, in --workers processes (default: the
cores, at most 4; --max-conns is per process). --reply, --echo, --keep-alive,
--read do not apply.

A dgram or seqpacket upstream gets a listener of its type (--type forces
it; stream in front of a message socket, or the reverse, is refused): each
message relayed whole, boundaries kept. seqpacket: a connection to the
upstream per client, ends relayed, the client named (SO_PEERCRED). dgram: a
socket of the tap's own per sender that bound an address, so the upstream's
replies go back to it (--max-conns senders, default 256, the one idle
longest evicted; --idle-timeout, 0 meaning 60s); an unbound sender
(sd_notify) is relayed one way. Its faults: the message tap rows above.

Examples:
  udsctl serve /tmp/odc_ws.sock
  udsctl serve --fault never-close /tmp/odc_ws.sock
  udsctl serve --perm 0660 --group www-data /run/app.sock
  udsctl serve --upstream /tmp/odc_ws.sock /tmp/tap.sock
  udsctl serve -q --upstream /tmp/odc_ws.sock /tmp/tap.sock
  udsctl serve --json --upstream /tmp/odc_ws.sock /tmp/tap.sock 2> tap.jsonl
  udsctl serve --upstream /run/app.sock --fault no-newline --hexdump /tmp/tap.sock
  udsctl serve --upstream /run/test/notify.sock /tmp/notify-tap.sock   (a dgram upstream)`,
      )
      .action(async (target: string, opts) => {
        const { runServe } = await import('./commands/serve.js');
        throw new Done(await runServe(target, opts, processIo()));
      });

  if (want('probe'))
    program
      .command('probe')
      .description('health check: say "healthy" or name what is wrong and how to fix it; never hangs')
      .argument('[target...]', 'sockets to probe, all at once (default: $UDSCTL_SOCKET, else /tmp/odc_ws.sock)')
      .option('-s, --send <text>', 'payload (escapes like \\r\\n understood; "" sends nothing)', DEFAULT_PROBE_PAYLOAD)
      .option('-x, --hex', '--send is hex digits ("50 49 4e 47 0d 0a")')
      .option('-N, --half-close', 'shut down our write side after sending (for servers that read to end-of-file)')
      .option('-e, --expect <text>', 'the reply must contain TEXT (escapes understood)')
      .option(LITERAL_FLAG, 'take --send and --expect as written: no escapes')
      .option('-E, --expect-regex <re>', 'the reply must match the regular expression RE')
      .addOption(new Option('-u, --until <rule>', `end of reply: ${END_RULE_HELP}`).default(untilOption(PROBE_DEFAULTS.until), PROBE_DEFAULTS.until).argParser(untilOption))
      .addOption(new Option('-t, --timeout <duration>', 'bound on the reply, from connect to end of reply (above 0)').default(PROBE_DEFAULTS.timeout, '5s').argParser(durationOption('--timeout', { positive: true })))
      .addOption(new Option('--connect-timeout <duration>', 'bound on connecting (a full backlog is retried until then; above 0)').default(PROBE_DEFAULTS.connectTimeout, '2s').argParser(durationOption('--connect-timeout', { positive: true })))
      .addOption(new Option('--max-reply <size>', 'bytes of reply kept, matched and shown (beyond: counted, "truncated": true)').default(DEFAULT_MAX_REPLY, '1MiB').argParser(sizeOption('--max-reply')))
      .addOption(new Option('--expect-close', 'one-shot contract (default): the server must close within --close-timeout after replying').conflicts('keepAlive'))
      .addOption(new Option('-k, --keep-alive', 'persistent protocol (e.g. Redis): staying open is healthy; the reply ends by --until').conflicts('expectClose'))
      .addOption(new Option('--close-timeout <duration>', 'one-shot: how long the server may take to close after replying (0: not checked)').default(PROBE_DEFAULTS.closeTimeout, '1s').argParser(durationOption('--close-timeout')))
      .addOption(new Option('-w, --warn <duration>', 'a response time over this is WARNING (0: off; -w as Nagios plugins)').default(PROBE_DEFAULTS.warn, '1s').argParser(durationOption('--warn')))
      .addOption(new Option('-c, --crit <duration>', 'a response time over this is CRITICAL (default: off; -c as Nagios plugins)').argParser(durationOption('--crit')))
      .addOption(new Option('--wait <duration>', 'retry until healthy (OK or WARNING) or this long has passed').argParser(durationOption('--wait')))
      .addOption(new Option('--interval <duration>', 'pause between --wait attempts').default(PROBE_DEFAULTS.interval, '500ms').argParser(durationOption('--interval')))
      .option('--json', 'print the report as JSON (same as --format json)')
      .addOption(new Option('--format <format>', 'output: human, json, nagios (STATUS: text | perfdata), or openmetrics (node_exporter textfile)').choices(['human', 'json', 'nagios', 'openmetrics']).default('human'))
      .option('-q, --quiet', 'print nothing; the exit status says it all')
      .option('--config <file>', 'the targets and their options from FILE (YAML); with no target, udsctl.yaml or .udsctl.yaml here is read')
      .option('--connect-only', 'liveness only, for any protocol: path, listener, connect, then close; OK when the connection is accepted (nothing sent or read)')
      .addOption(typeOption('Unix socket type (default: found out from /proc/net/unix, else by connecting): stream, seqpacket, dgram'))
      .addOption(new Option('--as <service[:arg]>', 'check it as this service (default: recognised), ARG for its check (below); line: the one-shot line contract').argParser(serviceOption))
      .addHelpText(
        'after',
        `
${ESCAPES_HELP}

Services: with no --send/--until, probe recognises the server (the --as flag,
the listening process, the path, the socket type, a banner, its answer to a
line) and checks it in its own protocol:
${(SERVICE_NAMES.join(', ') + '.').replace(/(.{1,76})(?:, |$)/g, (m, line: string) => `  ${line}${m.endsWith(', ') ? ',' : ''}\n`).trimEnd()}
A server it cannot recognise gets the one-shot line contract (--as line).
--as NAME:ARG gives the check an argument (--as grpc:my.Service):
${serviceArgsHelp()}

A datagram socket (/dev/log, $NOTIFY_SOCKET) is sent nothing unless --send
is given; with --expect, udsctl binds an address of its own and waits for a
reply datagram. On seqpacket and dgram the reply is one message unless
--until is given.

Checks, in order: path (exists, socket, owner/mode, may you connect), listener
(/proc/net/unix, the listening process), connect, send, reply, close.

Findings (stable codes, in --json as "code"):
${FINDINGS.map((f) => `  ${f.code.padEnd(21)}${f.severity.padEnd(9)}${f.title}`).join('\n')}

Exit status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (usage errors too); with
several targets, the worst (CRITICAL > UNKNOWN > WARNING > OK).

A suite file (udsctl.yaml, .udsctl.yaml, or --config FILE) lists targets:
  targets:
    - /tmp/odc_ws.sock
    - target: /run/redis/redis.sock
      resp: PING
      expect: PONG
Keys are the long options; "defaults:" applies to every target and
"concurrency:" (default 8) bounds the probes at once.

Examples:
  udsctl probe                      # ./udsctl.yaml, else $UDSCTL_SOCKET, else
                                    # /tmp/odc_ws.sock
  udsctl probe --config ci/health.yaml --format openmetrics > udsctl.prom
  udsctl probe --wait 30s /run/app.sock           # CI: wait until it is up
  udsctl probe --keep-alive --send 'PING\\r\\n' --expect +PONG /run/redis.sock
  udsctl probe --format nagios --warn 200ms --crit 1s /run/app.sock
  udsctl probe --connect-only /run/php/php-fpm.sock   # liveness of any protocol
  udsctl probe --fastcgi /ping --expect pong /run/php/php8.2-fpm.sock`,
      )
      .action(async (targets: string[], opts, cmd: Command) => {
        const { runProbe } = await import('./commands/probe.js');
        opts.sendGiven = cmd.getOptionValueSource('send') !== 'default';
        opts.untilGiven = cmd.getOptionValueSource('until') !== 'default';
        throw new Done(await runProbe(targets, opts, processIo(), probeSuiteCli(cmd)));
      });

  if (want('bench'))
    program
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
        const { runBenchCommand } = await import('./commands/bench.js');
        throw new Done(await runBenchCommand(target, opts, processIo()));
      });

  if (want('ls'))
    program
      .command('ls')
      .description('list listening sockets: who listens, who may connect, queues, clients, service; stale files')
      .argument('[path...]', 'only sockets at or under these paths (folders are walked for stale files), or @prefix')
      .addOption(new Option('--type <types>', `only these: ${LS_TYPES.join(', ')} (comma-separated)`).argParser(Object.assign((v: string, prev: string[] | undefined) => [...(prev ?? []), v], { choices: LS_TYPES })))
      .option('--service <name>', 'only sockets recognised as this service (postgresql, fastcgi, docker, ...)')
      .option('--stale', 'only stale socket files (nobody listens) and listeners whose file was deleted')
      .option('--tcp', 'TCP listeners on loopback (and on every address) too')
      .addOption(new Option('--sort <key>', 'order by').choices(LS_SORTS).default('name'))
      .option('--json', 'print the list as JSON (names exact; base64 beside names that are not UTF-8)')
      .option('--watch [interval]', 'live view of accept queues, clients and new connections a second (default 1s; a bare number is seconds)')
      .addHelpText(
        'after',
        `
Nothing is sent to any socket: names and queues come from the kernel
(sock_diag), processes from /proc/PID/fd, owners and modes from the files.
Stale files are looked for under /run, /var/run, /tmp and $XDG_RUNTIME_DIR,
or under the folders given. YOU says whether you may connect; the line under
a socket you may not use says why. A process another user runs is shown as
?/OWNER unless you are root. --watch redraws in place on a terminal and
prints a line per change otherwise; Ctrl-C ends it (exit 0).

Examples:
  udsctl ls                                  # every listening socket
  udsctl ls /run/php --stale                 # stale files under /run/php
  udsctl ls --service postgresql --json
  udsctl ls --tcp --sort queue
  udsctl ls --watch 2s /run/php              # a php-fpm pool under load`,
      )
      .action(async (paths: string[], opts) => {
        const { runLs } = await import('./commands/ls.js');
        throw new Done(await runLs(paths, opts, processIo()));
      });

  // Protocols (issue 11): --http, --resp and their companions, on send, probe and bench.
  for (const cmd of program.commands) {
    const name = cmd.name();
    if (name === 'send' || name === 'probe' || name === 'bench') {
      addProtocolOptions(cmd, name);
      cmd.addHelpText('after', PROTOCOL_EXAMPLES[name]);
    }
  }

  // Always defined (main() builds the whole program for it): the script is generated from all of the above.
  program
    .command('completion')
    .description('print a completion script for bash, zsh or fish: commands, options, choices, socket paths')
    .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS))
    .addHelpText(
      'after',
      `
Install (a global npm install cannot do this for you):
  udsctl completion bash > /etc/bash_completion.d/udsctl      # or: source <(udsctl completion bash) in ~/.bashrc
  udsctl completion zsh > "\${fpath[1]}/_udsctl"              # a folder on $fpath, then a new shell
  udsctl completion fish > ~/.config/fish/completions/udsctl.fish`,
    )
    .action(async (shell: (typeof SHELLS)[number]) => {
      const { runCompletion } = await import('./commands/completion.js');
      throw new Done(await runCompletion(shell, program, processIo()));
    });

  for (const cmd of program.commands) configureOutputs(cmd);
  configureOutputs(program);
  return program;
}

/** probe --help: each service that takes an argument, its ARG and what it means (from its module), within 80 columns. */
function serviceArgsHelp(): string {
  const rows = SERVICES.filter((s) => s.arg).map((s) => [`${s.name}:${s.arg!.name}`, s.arg!.means] as const);
  const width = Math.max(...rows.map(([k]) => k.length)) + 4;
  return rows
    .map(([k, means]) => {
      const lines: string[] = [];
      let line = '';
      for (const w of means.split(' ')) {
        if (line && width + line.length + 1 + w.length > 80) {
          lines.push(line);
          line = w;
        } else line = line ? `${line} ${w}` : w;
      }
      lines.push(line);
      return lines.map((l, i) => (i === 0 ? `  ${k}`.padEnd(width) : ' '.repeat(width)) + l).join('\n');
    })
    .join('\n');
}

/**
 * What probe's suite file needs of the command line (src/commands/probe-config.ts):
 * the options' shapes, the arguments given here (defaults for every target), and
 * a parser that reads a target's arguments exactly as the command line is read.
 */
function probeSuiteCli(cmd: Command) {
  // commander keeps the argv it parsed (untyped): what was given after "probe" applies to every target.
  const raw = (cmd.parent as unknown as { rawArgs?: string[] } | null)?.rawArgs ?? [];
  const given = raw.slice(raw.indexOf('probe') + 1);
  return {
    given,
    shapes: cmd.options
      .filter((o) => o.long)
      .map((o) => ({ name: o.long!.slice(2), takesValue: o.required || o.optional, repeatable: o.long === '--header' || o.long === '--param' })),
    parse: parseProbeArgs,
  };
}

/** Parse probe arguments as the command line would be (same checks, same hooks), without running a probe. */
async function parseProbeArgs(args: string[]): Promise<{ targets: string[]; flags: Record<string, unknown> }> {
  const program = buildProgram('probe');
  const cmd = program.commands.find((c) => c.name() === 'probe')!;
  let error = '';
  for (const c of [program, cmd]) c.configureOutput({ outputError: (s) => void (error = s), writeErr: () => true, writeOut: () => true });
  let out: { targets: string[]; flags: Record<string, unknown> } | undefined;
  cmd.action((targets: string[], opts, c: Command) => {
    opts.sendGiven = c.getOptionValueSource('send') !== 'default';
    opts.untilGiven = c.getOptionValueSource('until') !== 'default';
    out = { targets, flags: opts };
  });
  try {
    await program.parseAsync(['probe', ...args], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) throw new UdsError('BAD_OPTION', error.replace(/^error: /, '').trim() || err.message);
    throw err;
  }
  if (!out) throw new UdsError('BAD_OPTION', 'no probe to run');
  return out;
}

/** Help examples of the protocol flags, per command. */
const PROTOCOL_EXAMPLES = {
  send: `
Protocols (the request is made for you; the reply is framed by the protocol):
  udsctl send --http / /run/nginx.sock                       # prints the body
  udsctl send -i --http /api -X POST --header 'Content-Type: application/json' --data '{"a":1}' /run/app.sock
  udsctl send --resp 'GET mykey' /run/redis/redis.sock
  udsctl send --until len:4le /run/native-host.sock '\\x07\\0\\0\\0{"a":1}'`,
  probe: `
Protocols: OK for a 2xx (--expect-status N to ask for another); 4xx WARNING, 5xx CRITICAL (HTTP_STATUS):
  udsctl probe --http /healthz /run/nginx.sock
  udsctl probe --resp PING --expect PONG /run/redis/redis.sock
  udsctl probe --until len:4be --send '\\0\\0\\0\\x01\\x0b' -k "$SSH_AUTH_SOCK"`,
  bench: `
Protocols (keep-alive for --mode persistent; Connection: close per request for oneshot):
  udsctl bench --http / --mode persistent -c 32 /run/nginx.sock
  udsctl bench --resp PING --mode persistent -c 50 /run/redis/redis.sock`,
} as const;

/** The one option that turns escapes off, on send, probe and bench alike. */
const LITERAL_FLAG = '--literal';
/** What send's message, probe's --send/--expect and bench's --payload/--expect understand (core/escape.ts parseMessage). */
const ESCAPES_HELP = `Escapes, the same in send's message, probe's --send/--expect and bench's
--payload/--expect: \\n \\r \\t \\0 \\\\ \\xHH (and \\e ESC, \\a BEL) are understood
by default; --literal sends the text as written.`;

/** The option's own description names each of its choices: commander need not list them again. */
const namesChoices = (o: Option) => !!o.argChoices?.every((c) => new RegExp(`(^|[^\\w-])${c}([^\\w-]|$)`).test(o.description));

function configureOutputs(cmd: Command): void {
  cmd.exitOverride();
  cmd.configureHelp({
    optionDescription(o: Option): string {
      const shown = namesChoices(o) ? Object.assign(Object.create(Object.getPrototypeOf(o)), o, { argChoices: undefined }) : o;
      return Help.prototype.optionDescription.call(this, shown);
    },
  });
  cmd.configureOutput({
    // The help's free text fits the width commander wraps the options to (src/render/help.ts).
    getOutHelpWidth: () => helpColumns(process.stdout),
    getErrHelpWidth: () => helpColumns(process.stderr),
    writeOut: (str) => process.stdout.write(fitHelp(str, helpColumns(process.stdout))),
    outputError: (str, write) => {
      const usage = cmd.parent ? `usage: udsctl ${cmd.name()} ${cmd.usage()}` : `usage: udsctl ${cmd.usage()}`;
      write(`udsctl${cmd.parent ? ` ${cmd.name()}` : ''}: ${str.replace(/^error: /, '').trim()}\n${usage}\n`);
    },
  });
}

/**
 * A reader that goes away (`udsctl --help | head -3`) only ends our output: no
 * unhandled 'error' event with its stack trace, and the command still ends with
 * its own status (a probe cut short by `| head` must not turn healthy). A lost
 * stderr (a server's log) never stops the work either.
 */
function quietOnClosedPipes(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') return;
    process.stderr.write(`udsctl: cannot write to standard output: ${err.message}\n`);
    process.exit(EXIT.INTERNAL);
  });
  process.stderr.on('error', () => {});
}

/** Run the CLI; resolves with the exit status (never throws). */
export async function main(argv: string[]): Promise<number> {
  quietOnClosedPipes();
  if (argv === process.argv) argv = exactArgv(argv);
  const program = buildProgram(COMMANDS.find((c) => c === argv[2]));
  const sub = argv.slice(2).find((a) => !a.startsWith('-')) ?? '';
  try {
    await program.parseAsync(argv);
    return EXIT.OK;
  } catch (err) {
    if (err instanceof Done) return err.status;
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.OK;
      // commander.executeSubCommandAsync etc. fall through as usage errors; the message was printed by outputError.
      return usageStatus(sub);
    }
    if (err instanceof UdsError) {
      const cmd = program.commands.find((c) => c.name() === sub);
      if (USAGE_CODES.has(err.code)) {
        process.stderr.write(`udsctl ${sub}: ${escapeText(err.message)}\nusage: udsctl ${sub} ${cmd?.usage() ?? ''}\n`);
        return usageStatus(sub);
      }
      process.stderr.write(`udsctl ${sub}: ${escapeText(err.message)}\n`);
      return sub === 'probe' ? 3 : exitStatusFor(err.code);
    }
    process.stderr.write(`udsctl: internal error: ${escapeText((err as Error)?.message ?? String(err))}\n`);
    if (process.env.UDSCTL_DEBUG) process.stderr.write(`${(err as Error)?.stack}\n`);
    return sub === 'probe' ? 3 : EXIT.INTERNAL;
  }
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
