/**
 * `udsctl probe`'s command line: options, defaults and help text (its services'
 * arguments and findings read from their tables), and what a suite file needs
 * of it (the command itself is src/commands/probe.ts, loaded when it runs).
 */
import { type Command, Option } from 'commander';
import { END_RULE_HELP } from '../core/framing/end-rule.js';
import { DEFAULT_MAX_REPLY } from '../core/exchange.js';
import { DEFAULT_PROBE_PAYLOAD, FINDINGS, PROBE_DEFAULTS } from '../core/probe.js';
import { SERVICES, SERVICE_NAMES, parseServiceSpec } from '../core/service/index.js';
import type { SuiteCli } from '../commands/probe.js';
import { processIo } from '../io.js';
import { asOptionError, durationOption, sizeOption, untilOption } from '../options.js';
import { addProtocolOptions } from '../protocol-options.js';
import { Done, ESCAPES_HELP, LITERAL_FLAG, typeOption } from './common.js';

/** The code column of the findings in --help: the longest code and a space (MYSQL_TOO_MANY_CONNECTIONS ran into its severity). */
const CODE_WIDTH = Math.max(...FINDINGS.map((f) => f.code.length)) + 1;


/** `udsctl probe`: its options, help text and action; `parseArgs` reads a suite file target's arguments as the command line would (cli.ts). */
export function defineProbe(program: Command, parseArgs: SuiteCli['parse']): void {
  const command = program
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
    .addOption(typeOption('Unix socket type (default: as sock_diag lists it, else found by connecting): stream, seqpacket, dgram'))
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
(sock_diag, the listening process), connect, send, reply, close.

Findings (stable codes, in --json as "code"):
${FINDINGS.map((f) => `  ${f.code.padEnd(CODE_WIDTH)}${f.severity.padEnd(9)}${f.title}`).join('\n')}

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
      const { runProbe } = await import('../commands/probe.js');
      opts.sendGiven = cmd.getOptionValueSource('send') !== 'default';
      opts.untilGiven = cmd.getOptionValueSource('until') !== 'default';
      throw new Done(await runProbe(targets, opts, processIo(), probeSuiteCli(cmd, parseArgs)));
    });
  // Protocols (issue 11): --http, --resp and their companions.
  addProtocolOptions(command, 'probe');
  command.addHelpText('after', PROTOCOL_EXAMPLES);
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
function probeSuiteCli(cmd: Command, parse: SuiteCli['parse']): SuiteCli {
  // commander keeps the argv it parsed (untyped): what was given after "probe" applies to every target.
  const raw = (cmd.parent as unknown as { rawArgs?: string[] } | null)?.rawArgs ?? [];
  const given = raw.slice(raw.indexOf('probe') + 1);
  return {
    given,
    shapes: cmd.options
      .filter((o) => o.long)
      .map((o) => ({ name: o.long!.slice(2), takesValue: o.required || o.optional, repeatable: o.long === '--header' || o.long === '--param' })),
    parse,
  };
}

/** Help examples of the protocol flags. */
const PROTOCOL_EXAMPLES = `
Protocols: OK for a 2xx (--expect-status N to ask for another); 4xx WARNING, 5xx CRITICAL (HTTP_STATUS):
  udsctl probe --http /healthz /run/nginx.sock
  udsctl probe --resp PING --expect PONG /run/redis/redis.sock
  udsctl probe --until len:4be --send '\\0\\0\\0\\x01\\x0b' -k "$SSH_AUTH_SOCK"`;

/**
 * `--as NAME[:ARG]`: checked by the one parser (parseServiceSpec) for an early usage
 * error, kept as written (the core parses it again, for library callers too). The
 * names ride on `.choices`, for shell completion.
 */
const serviceOption = Object.assign(
  (value: string): string =>
    asOptionError(() => {
      parseServiceSpec(value);
      return value;
    }),
  { choices: SERVICE_NAMES },
);
