import { Chalk, type ChalkInstance } from 'chalk';
import chalk from 'chalk';
import { formatDuration } from '../core/duration.js';
import type { EndRule } from '../core/framing/end-rule.js';
import { UdsError } from '../core/errors.js';
import { escapeText, parseHex, parseMessage } from '../core/escape.js';
import { PROBE_DEFAULTS, type ProbeOptions, type ProbeReport, SEVERITY_EXIT, type Severity, probeAll } from '../core/probe.js';
import { compileLinearRegex } from '../core/regex.js';
import type { SocketType } from '../core/socket/socket-type.js';
import { parseTarget } from '../core/socket/target.js';
import { type Io, stderrColumns, stdoutColumns, writeAll } from '../io.js';
import { probeNagios, probeRunHuman, probeRunToJson } from '../render/probe.js';
import { renderMeasured, wrap } from '../render/width.js';
import { probeOpenMetrics } from '../render/probe-openmetrics.js';
import { existsSync } from 'node:fs';
import { type OptionShape, findConfig, lineOfError, readProbeConfig } from './probe-config.js';
import { type ProbeJob, probeSuite } from '../core/probe/suite.js';
import { errColor } from '../render/style.js';
import { type ProtocolFlags, protocolRequest } from '../protocol-options.js';
import { parseServiceSpec } from '../core/service/index.js';

export const PROBE_FORMATS = ['human', 'json', 'nagios', 'openmetrics'] as const;
export type ProbeFormat = (typeof PROBE_FORMATS)[number];

/** The target when none is given and $UDSCTL_SOCKET is unset: the reference setup's socket. */
export const DEFAULT_PROBE_TARGET = '/tmp/odc_ws.sock';

/**
 * probe's exit status: a monitoring plugin's (src/exit-codes.ts is for the
 * other commands). README "probe: exit status" and the man page are this table.
 */
export const PROBE_EXIT_TABLE: ReadonlyArray<{ status: number; severity: string; meaning: string }> = [
  { status: SEVERITY_EXIT.OK, severity: 'OK', meaning: 'every target is healthy' },
  { status: SEVERITY_EXIT.WARNING, severity: 'WARNING', meaning: 'the worst is a warning: NO_NEWLINE, RESET_AFTER_REPLY, HTTP_STATUS 3xx or 4xx, or SLOW over --warn' },
  { status: SEVERITY_EXIT.CRITICAL, severity: 'CRITICAL', meaning: 'a target failed: any other finding, or SLOW over --crit' },
  { status: SEVERITY_EXIT.UNKNOWN, severity: 'UNKNOWN', meaning: 'usage error, the probe itself could not run (PROBE_ERROR), or the server speaks another protocol than the default line (PROTOCOL_MISMATCH)' },
];

export interface ProbeFlags extends ProtocolFlags {
  send: string;
  hex?: boolean;
  /** --send and --expect as written: no escapes. */
  literal?: boolean;
  halfClose?: boolean;
  expect?: string;
  expectRegex?: string;
  until: EndRule;
  maxReply?: number;
  timeout: number;
  connectTimeout: number;
  closeTimeout: number;
  expectClose?: boolean;
  keepAlive?: boolean;
  warn: number;
  crit?: number;
  wait?: number;
  interval: number;
  json?: boolean;
  format: ProbeFormat;
  quiet?: boolean;
  connectOnly?: boolean;
  /** --type: the Unix socket type (default: found out). */
  type?: SocketType;
  /** --send was given (else the default payload, and nothing at all on a datagram socket). */
  sendGiven?: boolean;
  /** --until was given (else line, and one message on a message socket). */
  untilGiven?: boolean;
  /** --as NAME[:ARG]: the service to check it as (default: recognised), and its check's argument. */
  as?: string;
  /** --config FILE: the targets and their options (src/commands/probe-config.ts). */
  config?: string;
}

/** What a suite file needs of the command line (src/cli/probe.ts probeSuiteCli). */
export interface SuiteCli {
  /** The arguments given after `probe`: every target's defaults. */
  given: string[];
  shapes: OptionShape[];
  /** Parse probe arguments exactly as the command line is parsed. */
  parse(args: string[]): Promise<{ targets: string[]; flags: Record<string, unknown> }>;
}

/** The service a protocol flag speaks. */
const FLAG_SERVICE = { http: 'http', resp: 'redis', fastcgi: 'fastcgi' } as const;

/** Flags -> core options; throws UdsError (a usage error) for values that do not fit together. */
export function probeOptions(flags: ProbeFlags): ProbeOptions {
  // Compiled here for an early usage error; matched in linear time (src/core/regex.ts).
  const expectRegex = flags.expectRegex === undefined ? undefined : compileLinearRegex(flags.expectRegex).source;
  if (flags.expect === '') throw new UdsError('BAD_OPTION', '--expect needs some text');
  if (flags.hex && flags.send === PROBE_DEFAULTS.payload) throw new UdsError('BAD_OPTION', '--hex needs --send with hex digits');
  if (flags.connectOnly) return connectOnlyOptions(flags);
  // --http / --resp: the request and its framing; a persistent protocol, so staying open is healthy.
  // FastCGI: one request per connection, the server closing after END_REQUEST (the one-shot contract
  // checks that it does); --keep-alive asks it to keep the connection (FCGI_KEEP_CONN).
  const proto = protocolRequest(flags, flags.fastcgi !== undefined ? { close: !flags.keepAlive } : {});
  if (proto && proto.protocol !== 'fastcgi' && flags.expectClose) throw new UdsError('BAD_OPTION', `--expect-close does not fit ${proto.protocol === 'http' ? '--http' : '--resp'}: staying open is the protocol's way`);
  const as = flags.as === undefined ? undefined : parseServiceSpec(flags.as);
  if (proto && as && (as.service.name !== FLAG_SERVICE[proto.protocol] || as.arg !== undefined)) throw new UdsError('BAD_OPTION', `--as ${flags.as} and --${proto.protocol} contradict each other`);
  return {
    as: proto ? FLAG_SERVICE[proto.protocol] : flags.as,
    payload: proto ? proto.payload : flags.sendGiven === false ? undefined : flags.hex ? parseHex(flags.send) : parseMessage(flags.send, flags.literal),
    halfClose: flags.halfClose,
    expect: flags.expect === undefined ? undefined : parseMessage(flags.expect, flags.literal),
    expectRegex,
    until: proto ? proto.until : flags.untilGiven === false ? undefined : flags.until,
    socketType: flags.type,
    maxReply: flags.maxReply,
    contract: flags.keepAlive || (proto && proto.protocol !== 'fastcgi') ? 'keep-alive' : flags.expectClose || proto ? 'one-shot' : undefined,
    expectStatus: flags.expectStatus,
    connectTimeout: flags.connectTimeout,
    timeout: flags.timeout,
    closeTimeout: flags.closeTimeout,
    warn: flags.warn,
    crit: flags.crit,
    wait: flags.wait,
    interval: flags.interval,
  };
}

/** --connect-only: nothing is sent or read, so every payload and reply flag contradicts it. */
function connectOnlyOptions(flags: ProbeFlags): ProbeOptions {
  const clash = (
    [
      ['--send', flags.send !== PROBE_DEFAULTS.payload],
      ['--hex', Boolean(flags.hex)],
      ['--half-close', Boolean(flags.halfClose)],
      ['--expect', flags.expect !== undefined],
      ['--expect-regex', flags.expectRegex !== undefined],
      ['--keep-alive', Boolean(flags.keepAlive)],
      ['--http', flags.http !== undefined],
      ['--resp', flags.resp !== undefined],
      ['--fastcgi', flags.fastcgi !== undefined],
    ] as const
  ).find(([, given]) => given);
  if (clash) throw new UdsError('BAD_OPTION', `--connect-only sends and reads nothing: it contradicts ${clash[0]}`);
  return {
    connectOnly: true,
    as: flags.as,
    connectTimeout: flags.connectTimeout,
    timeout: flags.timeout,
    warn: flags.warn,
    crit: flags.crit,
    wait: flags.wait,
    interval: flags.interval,
  };
}

function formatOf(flags: ProbeFlags): ProbeFormat {
  if (flags.json && flags.format !== 'human' && flags.format !== 'json') {
    throw new UdsError('BAD_OPTION', `--json and --format ${flags.format} contradict each other`);
  }
  return flags.json ? 'json' : flags.format;
}

/** Colour for stdout, decided once: chalk's default instance follows stdout (TTY, NO_COLOR, FORCE_COLOR). */
function outColor(io: Io): ChalkInstance {
  if (io.env.NO_COLOR || (io.stdout !== process.stdout && !io.stdout.isTTY)) return new Chalk({ level: 0 });
  return chalk;
}

/**
 * `udsctl probe`: probe every target at once; the exit status is the worst
 * severity. No target: the suite file (--config, else udsctl.yaml here), else
 * $UDSCTL_SOCKET, else the default socket, saying which.
 */
export async function runProbe(targetSpecs: string[], flags: ProbeFlags, io: Io, suite?: SuiteCli): Promise<number> {
  const format = formatOf(flags);
  if (flags.config !== undefined && targetSpecs.length > 0) throw new UdsError('BAD_OPTION', 'give targets or --config FILE, not both');
  const file = flags.config ?? (targetSpecs.length === 0 && suite ? findConfig(process.cwd(), existsSync) : null);
  if (file !== null && suite) return runSuite(file, flags, format, io, suite);
  // $UDSCTL_SOCKET is a choice the caller made; the built-in default is not, so it is said (on stderr: stdout stays the report).
  if (targetSpecs.length === 0 && !io.env.UDSCTL_SOCKET && !flags.quiet) {
    const note = `udsctl probe: no target and no ${CONFIG_HINT} here: probing ${DEFAULT_PROBE_TARGET} (the default)`;
    await writeAll(io.stderr, await renderMeasured(() => wrap(note, stderrColumns(io), '  ').join('\n') + '\n'));
  }
  const specs = targetSpecs.length > 0 ? targetSpecs : [io.env.UDSCTL_SOCKET || DEFAULT_PROBE_TARGET];
  const targets = specs.map((s) => parseTarget(s));
  const options = { ...probeOptions(flags), env: io.env };

  await logAttempts(options, flags, format, io);

  const { status, reports } = await probeAll(targets, options);
  return report(status, reports, flags, format, io, { warn: options.warn, crit: options.crit });
}

/** With --wait, say on stderr why we are still waiting (a CI log), once per change of finding. */
async function logAttempts(options: ProbeOptions, flags: ProbeFlags, format: ProbeFormat, io: Io): Promise<void> {
  if (options.wait === undefined || format !== 'human' || flags.quiet) return;
  const last = new Map<string, string>();
  const c = await errColor();
  options.onAttempt = (r: ProbeReport, attempt: number) => {
    if (r.status === 'OK' || r.status === 'WARNING' || r.wait?.gaveUp || last.get(r.target) === r.finding.code) return;
    last.set(r.target, r.finding.code);
    void io.stderr.write(
      `${c.dim('udsctl probe:')} ${escapeText(r.target)}: attempt ${attempt}: ${r.status} ${r.finding.code}; ` +
        `retrying every ${formatDuration(options.interval ?? PROBE_DEFAULTS.interval)} for up to ${formatDuration(options.wait!)}\n`,
    );
  };
}

const CONFIG_HINT = 'udsctl.yaml';

/** A suite file: every target parsed and checked first, then probed, a bounded number at once. */
async function runSuite(file: string, flags: ProbeFlags, format: ProbeFormat, io: Io, suite: SuiteCli): Promise<number> {
  const config = readProbeConfig(file, suite.shapes);
  const jobs: ProbeJob[] = [];
  for (const t of config.targets) {
    try {
      const parsed = await suite.parse([...suite.given, ...t.args, '--', t.target]);
      const f = parsed.flags as unknown as ProbeFlags;
      const options = probeOptions(f);
      await logAttempts(options, flags, format, io);
      jobs.push({ target: parseTarget(t.target), options });
    } catch (err) {
      if (!(err instanceof UdsError)) throw err;
      throw new UdsError('BAD_CONFIG', `${escapeText(file)}:${lineOfError(t, err.message)}: ${err.message}`);
    }
  }
  const { status, reports } = await probeSuite(jobs, config.concurrency);
  // Nagios perfdata has one pair of thresholds: the first target's that has them.
  const warn = jobs.map((j) => j.options.warn).find((v) => v !== undefined);
  const crit = jobs.map((j) => j.options.crit).find((v) => v !== undefined);
  return report(status, reports, flags, format, io, { warn, crit });
}

async function report(status: Severity, reports: ProbeReport[], flags: ProbeFlags, format: ProbeFormat, io: Io, thresholds: { warn?: number; crit?: number }): Promise<number> {
  if (flags.quiet) return SEVERITY_EXIT[status];
  if (format === 'openmetrics') await writeAll(io.stdout, probeOpenMetrics(reports));
  else if (format === 'json') await writeAll(io.stdout, JSON.stringify(probeRunToJson(status, reports)) + '\n');
  else if (format === 'nagios') await writeAll(io.stdout, probeNagios(status, reports, thresholds));
  else await writeAll(io.stdout, await renderMeasured(() => probeRunHuman(status, reports, outColor(io), stdoutColumns(io))));
  return SEVERITY_EXIT[status];
}
