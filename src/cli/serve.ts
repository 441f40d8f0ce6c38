/**
 * `udsctl serve`'s command line: options, defaults and help text (the command
 * itself is src/commands/serve.ts, loaded when it runs; the words and
 * defaults are src/core/serve/options.ts's).
 */
import { type Command, Option } from 'commander';
import { FAULTS, FAULT_HELP, READ_MODES, SERVE_DEFAULTS, SERVE_ENGINES, SERVE_LIMITS } from '../core/serve/options.js';
import { ENGINE_TABLE_HEADER, engineSupportLines } from '../core/serve/engines.js';
import { processIo } from '../io.js';
import { choiceOption, durationOption, intOption, modeOption, sizeOption } from '../options.js';
import { Done, typeOption } from './common.js';

/** `udsctl serve`: its options, help text and action. */
export function defineServe(program: Command): void {
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
      const { runServe } = await import('../commands/serve.js');
      throw new Done(await runServe(target, opts, processIo()));
    });
}
