/**
 * The health check: look at the path, the listener, then one bounded exchange,
 * and name what is wrong. Data in, report out: never prints, never exits; the
 * CLI turns the report's severity into an exit status.
 *
 * Over 400 lines, for now: the checks in order (path, listener, connect, send,
 * reply, close) and their judging share one Settings and one checklist. The
 * findings table and the report's shape are in probe/findings.ts; moving the
 * listener search and the protocol judging out as well needs those two shared
 * types in a module of their own first (else an import circle).
 */
import { nowMs, nowUs } from './clock.js';
import { checkDuration, formatDuration } from './duration.js';
import { type EndRule, checkEndRule, formatEndRule } from './framing/end-rule.js';
import { UdsError } from './errors.js';
import { escapeText } from './escape.js';
import { DEFAULT_MAX_REPLY, type ExchangeRecord, exchange, nothingExchanged } from './exchange.js';
import { connectMessage } from './exchange-message.js';
import { PROTOCOL_STATUS, decodeFastcgiReply } from './framing/fastcgi.js';
import { type LinearRegex, MAX_REGEX_INPUT, compileLinearRegex } from './regex.js';
import { replySize } from './reply-size.js';
import { openConnection } from './socket/connect.js';
import { type Target, checkTarget } from './socket/target.js';
import { type SocketType, type SocketTypeSource, parseSocketType, socketTypeFromProc } from './socket/socket-type.js';
import path from 'node:path';
import { promises as fsp } from 'node:fs';
import {
  type FileId,
  type Identity,
  type PathInfo,
  type ProcessInfo,
  type UnixSocketEntry,
  currentIdentity,
  fileId,
  findSocketOwners,
  inspectPath,
  isServerSocket,
  listenersFor,
  processNames,
  SERVER_STATES,
  processCwd,
  readProcNetUnix,
  readUnixDiagVfs,
  sameFile,
} from './socket/unix-info.js';
import {
  type Severity,
  type CheckName,
  type FindingCode,
  type Finding,
  type CheckStatus,
  type Check,
  type Contract,
  type ListenerInfo,
  type ServerProcess,
  type ProbeReport,
  worstSeverity,
  CHECKS,
  RANK,
  findingInfo,
  CONTRACTS,
} from './probe/findings.js';

// The findings table and the report's shape live in probe/findings.ts; the library and the CLI import them from here.
export {
  type Severity,
  type CheckName,
  type FindingInfo,
  type FindingCode,
  type Finding,
  type CheckStatus,
  type Check,
  type Contract,
  type ListenerInfo,
  type ServerProcess,
  type ProbeReport,
  SEVERITIES,
  SEVERITY_EXIT,
  worstSeverity,
  CHECKS,
  FINDINGS,
  findingInfo,
  CONTRACTS,
} from './probe/findings.js';

/** Default payload: one short line that no protocol mistakes for a command. */
export const DEFAULT_PROBE_PAYLOAD = 'udsctl-probe\n';

export const PROBE_DEFAULTS = {
  payload: DEFAULT_PROBE_PAYLOAD,
  until: 'line',
  contract: 'one-shot',
  connectTimeout: 2_000,
  timeout: 5_000,
  closeTimeout: 1_000,
  warn: 1_000,
  interval: 500,
  ownerLookupBudget: 1_000,
} as const;

export interface ProbeOptions {
  /** Bytes to send; default `udsctl-probe\n`. Empty: send nothing (for servers that speak first). */
  payload?: Buffer;
  /** Shut down our write side after sending (servers that read to end-of-file). */
  halfClose?: boolean;
  /** The reply must contain these bytes. */
  expect?: Buffer;
  /**
   * The reply (as UTF-8) must match. Matched in linear time (RE2 syntax, see
   * src/core/regex.ts): a RegExp is taken by its source and flags; backreferences
   * and lookaround are BAD_OPTION.
   */
  expectRegex?: RegExp | string;
  /** End of reply; default line. */
  until?: EndRule;
  /** Bytes of reply kept, matched and shown; default 1 MiB. More is counted, and the exchange says truncated. */
  maxReply?: number;
  /** one-shot (default): the server must close within closeTimeout after replying. keep-alive: staying open is healthy. */
  contract?: Contract;
  /** Default 2s. */
  connectTimeout?: number;
  /** Bound on the reply, from connected to end of reply. Default 5s. */
  timeout?: number;
  /** one-shot: how long the server may take to close after replying. Default 1s; 0 skips the close check. */
  closeTimeout?: number;
  /** Response time over this is SLOW, WARNING. Default 1s; 0 disables. */
  warn?: number;
  /** Response time over this is SLOW, CRITICAL. Default none. */
  crit?: number;
  /** Retry until healthy (OK or WARNING) or this many ms have passed. */
  wait?: number;
  /** Pause between attempts with `wait`. Default 500ms. */
  interval?: number;
  /** With an HTTP reply (until http): the status that is healthy; default any 2xx (3xx, 4xx WARNING; 5xx CRITICAL). */
  expectStatus?: number;
  /** Called after every attempt with `wait` (progress). */
  onAttempt?: (report: ProbeReport, attempt: number) => void;
  signal?: AbortSignal;
  /** Bound on naming the listening process from /proc (a scan of every process's fd folder; tens of ms on an idle machine). Default 1s. */
  ownerLookupBudget?: number;
  /**
   * Liveness only: path, listener, connect, then close; nothing is sent or read. OK when the
   * connection is established, whatever protocol the server speaks (php-fpm, a database, D-Bus).
   * Contradicts payload, halfClose, expect, expectRegex and the keep-alive contract (BAD_OPTION).
   */
  connectOnly?: boolean;
  /** Whose permissions to check (default: this process's effective ids). */
  identity?: Identity;
  /** The Unix socket type; default: found out (/proc/net/unix, else by connecting). */
  socketType?: SocketType;
}

interface Settings {
  connectOnly: boolean;
  payload: Buffer;
  halfClose: boolean;
  expect?: Buffer;
  expectRegex?: LinearRegex;
  until: EndRule;
  maxReply: number;
  contract: Contract;
  connectTimeout: number;
  timeout: number;
  closeTimeout: number;
  warn: number;
  crit?: number;
  expectStatus?: number;
  ownerLookupBudget: number;
  identity: Identity;
  signal?: AbortSignal;
  socketType?: SocketType;
  /** A payload was given: sent on a dgram socket too (else nothing lands in /dev/log). */
  payloadGiven: boolean;
  /** An end rule was given: on a message socket it replaces "one message". */
  untilGiven: boolean;
  /** A contract was given: else a seqpacket server may stay open (message protocols mostly are persistent). */
  contractGiven: boolean;
}

const asBuffer = (v: unknown, what: string): Buffer | undefined => {
  if (v === undefined) return undefined;
  if (typeof v === 'string') return Buffer.from(v);
  if (v instanceof Uint8Array) return Buffer.isBuffer(v) ? v : Buffer.from(v);
  throw new UdsError('BAD_OPTION', `${what} must be a Buffer or a string (got ${v === null ? 'null' : typeof v})`);
};

/** Options to settings, checked as the CLI checks flags: a typed error, never a TypeError or a made-up verdict. */
function settings(o: ProbeOptions): Settings {
  if (o === null || typeof o !== 'object') throw new UdsError('BAD_OPTION', 'options must be an object');
  const until = checkEndRule(o.until ?? { kind: 'line' });
  const contract = o.contract ?? PROBE_DEFAULTS.contract;
  if (!CONTRACTS.includes(contract)) throw new UdsError('BAD_OPTION', `contract must be one of ${CONTRACTS.join(', ')}`);
  if (contract === 'keep-alive' && until.kind === 'eof') {
    throw new UdsError(
      'BAD_OPTION',
      '--until eof waits for the server to close, which a --keep-alive server never does; use line, delim:, bytes: or idle:',
    );
  }
  const warn = checkDuration(o.warn ?? PROBE_DEFAULTS.warn, 'warn');
  if (o.crit !== undefined) checkDuration(o.crit, 'crit');
  if (o.wait !== undefined) checkDuration(o.wait, 'wait');
  if (o.interval !== undefined) checkDuration(o.interval, 'interval');
  const maxReply = o.maxReply ?? DEFAULT_MAX_REPLY;
  if (!Number.isSafeInteger(maxReply) || maxReply < 0) {
    throw new UdsError('BAD_OPTION', `maxReply must be a whole number of bytes >= 0 (got ${String(o.maxReply)})`);
  }
  const expect = asBuffer(o.expect, 'expect');
  if (expect !== undefined && expect.length === 0) throw new UdsError('BAD_OPTION', '--expect needs some text');
  const connectOnly = Boolean(o.connectOnly);
  if (connectOnly) {
    const clash = (
      [
        ['payload', o.payload !== undefined],
        ['halfClose', Boolean(o.halfClose)],
        ['expect', o.expect !== undefined],
        ['expectRegex', o.expectRegex !== undefined],
        ['contract keep-alive', contract === 'keep-alive'],
      ] as const
    ).find(([, given]) => given);
    if (clash) throw new UdsError('BAD_OPTION', `connectOnly sends and reads nothing: it contradicts ${clash[0]}`);
  }
  if (o.crit !== undefined && warn > 0 && o.crit < warn) {
    throw new UdsError('BAD_OPTION', `--crit (${formatDuration(o.crit)}) must not be below --warn (${formatDuration(warn)})`);
  }
  return {
    connectOnly,
    payload: asBuffer(o.payload, 'payload') ?? Buffer.from(PROBE_DEFAULTS.payload),
    halfClose: Boolean(o.halfClose),
    expect,
    expectRegex: o.expectRegex === undefined ? undefined : compileLinearRegex(o.expectRegex),
    until,
    maxReply,
    contract,
    connectTimeout: checkDuration(o.connectTimeout ?? PROBE_DEFAULTS.connectTimeout, 'connectTimeout', { positive: true }),
    timeout: checkDuration(o.timeout ?? PROBE_DEFAULTS.timeout, 'timeout', { positive: true }),
    closeTimeout: checkDuration(o.closeTimeout ?? PROBE_DEFAULTS.closeTimeout, 'closeTimeout'),
    warn,
    crit: o.crit,
    expectStatus: checkStatus(o.expectStatus),
    ownerLookupBudget: o.ownerLookupBudget ?? PROBE_DEFAULTS.ownerLookupBudget,
    identity: o.identity ?? currentIdentity(),
    signal: o.signal,
    socketType: o.socketType === undefined ? undefined : parseSocketType(o.socketType, 'socketType'),
    payloadGiven: o.payload !== undefined,
    untilGiven: o.until !== undefined,
    contractGiven: o.contract !== undefined,
  };
}

function checkStatus(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || (v as number) < 100 || (v as number) > 599) throw new UdsError('BAD_OPTION', `expectStatus must be an HTTP status from 100 to 599 (got ${String(v)})`);
  return v as number;
}

/**
 * Probe one target: path, listener, connect, send, reply, close. With `wait`,
 * retries every `interval` until healthy (OK or WARNING) or the deadline; no
 * attempt starts after the deadline. Never rejects for a socket failure; throws
 * UdsError only for bad options or a malformed target.
 */
export async function probe(target: Target | string, opts: ProbeOptions = {}): Promise<ProbeReport> {
  const t = checkTarget(target);
  const s = settings(opts);
  const start = nowUs();
  if (opts.wait === undefined) {
    const r = await probeOnce(t, s);
    r.elapsedMs = ms(nowUs() - start);
    return r;
  }
  const interval = opts.interval ?? PROBE_DEFAULTS.interval;
  if (!(interval > 0)) throw new UdsError('BAD_OPTION', '--interval must be above 0');
  const deadline = nowMs() + opts.wait;
  for (let attempt = 1; ; attempt++) {
    const r = await probeOnce(t, s);
    const healthy = r.status === 'OK' || r.status === 'WARNING';
    const left = deadline - nowMs();
    const last = healthy || left <= 0 || s.signal?.aborted === true;
    r.attempts = attempt;
    r.elapsedMs = ms(nowUs() - start);
    r.wait = { ms: opts.wait, intervalMs: interval, gaveUp: last && !healthy };
    opts.onAttempt?.(r, attempt);
    if (last) return r;
    await sleep(Math.min(interval, left), s.signal);
  }
}

/** Several targets at once; the status is the worst of them. */
export async function probeAll(
  targets: ReadonlyArray<Target | string>,
  opts: ProbeOptions = {},
): Promise<{ status: Severity; reports: ProbeReport[] }> {
  // Parse (and validate options) before starting anything, so a typo fails fast.
  if (!Array.isArray(targets)) throw new UdsError('BAD_TARGET', 'targets must be an array of targets');
  const parsed = targets.map((t) => checkTarget(t));
  settings(opts);
  const reports = await Promise.all(parsed.map((t) => probe(t, opts)));
  return { status: worstSeverity(reports.map((r) => r.status)), reports };
}

function sleep(msec: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, msec));
    signal?.addEventListener('abort', done, { once: true });
  });
}

const ms = (us: number): number => Math.round(us) / 1000;

/** A short, quoted, escaped preview of bytes for one line of text. */
export function preview(b: Buffer, max = 40): string {
  return escapeText(b.subarray(0, max * 4), { quote: true, max });
}

function makeFinding(code: FindingCode, detail: string, over: { severity?: Severity; fix?: string; cause?: string } = {}): Finding {
  const row = findingInfo(code);
  return {
    code,
    severity: over.severity ?? row.severity,
    check: row.check,
    title: row.title,
    detail,
    cause: over.cause ?? row.cause,
    fix: over.fix ?? row.fix,
  };
}

const STATUS_RANK: Readonly<Record<CheckStatus, number>> = { 'not-reached': 0, skip: 0, ok: 1, warn: 2, fail: 3 };

class Checklist {
  private readonly rows = new Map<CheckName, Check>();
  set(name: CheckName, status: CheckStatus, detail: string, msec: number | null = null): void {
    this.rows.set(name, { name, status, ms: msec, detail });
  }
  /** Replace a check's status and detail, keeping its time. */
  update(name: CheckName, status: CheckStatus, detail: string): void {
    const row = this.rows.get(name);
    if (!row) return this.set(name, status, detail);
    row.status = status;
    row.detail = detail;
  }
  /** Raise a check's status (never lowers it) and add to its detail. */
  worsen(name: CheckName, status: CheckStatus, extra: string): void {
    const row = this.rows.get(name);
    if (!row) return this.set(name, status, extra);
    if (STATUS_RANK[status] > STATUS_RANK[row.status]) row.status = status;
    row.detail = row.detail ? `${row.detail}; ${extra}` : extra;
  }
  list(): Check[] {
    return CHECKS.map((n) => this.rows.get(n) ?? { name: n, status: 'not-reached' as const, ms: null, detail: 'not reached' });
  }
}

async function probeOnce(t: Target, s: Settings): Promise<ProbeReport> {
  const findings: Finding[] = [];
  const checks = new Checklist();
  let pathInfo: PathInfo | null = null;
  let listener: ListenerInfo | null = null;
  let record: ExchangeRecord | null = null;
  let responseMs: number | null = null;
  let tryConnect = true;

  // 1. The path.
  if (t.kind === 'unix') {
    const t0 = nowUs();
    try {
      pathInfo = await inspectPath(t.path, s.identity);
    } catch (err) {
      findings.push(makeFinding('PROBE_ERROR', `${t.display}: cannot inspect the path: ${(err as Error).message}`));
    }
    const took = ms(nowUs() - t0);
    if (pathInfo) {
      const a = pathInfo.access;
      const via = pathInfo.symlinkTo ? ` (symlink to ${pathInfo.symlinkTo})` : '';
      if (pathInfo.state === 'absent') {
        tryConnect = false;
        checks.set('path', 'fail', `not found: ${a.reason}${via}`, took);
        findings.push(makeFinding('NOT_FOUND', `${t.display}: ${a.reason}`));
      } else if (pathInfo.state === 'not-socket') {
        tryConnect = false;
        checks.set('path', 'fail', a.reason, took);
        findings.push(makeFinding('NOT_A_SOCKET', `${t.display}: ${a.reason}`));
      } else if (a.allowed === false) {
        // The verdict waits for connect: an ACL may still let us in.
        checks.set('path', 'fail', a.reason, took);
      } else {
        checks.set('path', 'ok', `${a.reason}${via}`, took);
      }
    } else {
      checks.set('path', 'fail', 'could not be inspected', took);
    }
  } else {
    checks.set('path', 'skip', t.kind === 'abstract' ? 'abstract name: no file, no permissions' : 'TCP: no file');
  }

  // 2. The listener, as the kernel lists it (Linux); also for a missing file, whose server may still listen.
  let listenerStarted = 0;
  const lookListener = t.kind === 'abstract' || (t.kind === 'unix' && pathInfo !== null && pathInfo.state !== 'not-socket');
  let search: ListenerSearch | null = null;
  if (lookListener) {
    listenerStarted = nowUs();
    search = await findListeners(t, pathInfo);
    listener = search.info;
  }
  const listenerMs = lookListener ? ms(nowUs() - listenerStarted) : null;

  // 3-6. Connect, send, reply, close: one bounded exchange, on the socket's type.
  let typeSource: SocketTypeSource | null = null;
  if (tryConnect && findings.length === 0) {
    const known = t.kind === 'tcp' ? 'stream' : (s.socketType ?? (await socketTypeFromProc(t)));
    typeSource = t.kind === 'tcp' ? 'tcp' : s.socketType ? 'option' : known ? 'proc' : 'connect';
    const attempt = (type: SocketType) =>
      exchange(t, {
        // A datagram socket (/dev/log, $NOTIFY_SOCKET) gets nothing unless --send says what.
        payload: type === 'dgram' && !s.payloadGiven ? Buffer.alloc(0) : s.payload,
        until: s.until,
        messageUntil: s.untilGiven ? s.until : 'message',
        connectTimeout: s.connectTimeout,
        timeout: s.timeout,
        halfClose: s.halfClose,
        closeTimeout: s.contract === 'one-shot' && type !== 'dgram' && (type !== 'seqpacket' || s.contractGiven) ? s.closeTimeout : 0,
        maxReply: s.maxReply,
        signal: s.signal,
        socketType: t.kind === 'tcp' ? undefined : type,
        wantReply: s.expect !== undefined || s.expectRegex !== undefined,
        peerCred: t.kind !== 'tcp',
      });
    if (s.connectOnly) record = await connectAndClose(t, s, known ?? 'stream');
    else if (known) record = await attempt(known);
    else {
      // /proc/net/unix did not say (not readable, another namespace): stream, seqpacket, dgram in turn.
      for (const type of ['stream', 'seqpacket', 'dgram'] as const) {
        record = await attempt(type);
        if (record.error?.code !== 'WRONG_TYPE') break;
      }
    }
    if (t.kind === 'tcp') record = { ...record!, socketType: undefined, socketTypeSource: undefined };
    else record = { ...record!, socketTypeSource: typeSource };
    // A forced --type the socket is not: say which it is, when the kernel lists it.
    const actual = record.error?.code === 'WRONG_TYPE' && s.socketType ? await socketTypeFromProc(t) : null;
    responseMs = judgeExchange(t, s, record, pathInfo, listener, checks, findings, actual);
  }

  // Name the listening process; after the exchange, so it never skews its timing.
  let ownersMs = 0;
  if (search) {
    const t0 = nowUs();
    await nameListeners(search, s.ownerLookupBudget);
    ownersMs = ms(nowUs() - t0);
  }
  const server = await serverProcess(record, listener);
  if (server) {
    const how = server.source === 'peercred' ? 'from the connected socket (SO_PEERCRED)' : 'from /proc/net/unix + sock_diag';
    checks.worsen('connect', 'ok', `server: pid ${server.pid} (${server.cmdline || server.name}) ${how}`);
  }
  if (lookListener) judgeListener(t, s, listener!, record, pathInfo, checks, findings, (listenerMs ?? 0) + ownersMs);
  else if (t.kind === 'tcp') checks.set('listener', 'skip', 'TCP: not looked up');
  else checks.set('listener', 'skip', 'no socket file to look up');
  if (record && s.payload.equals(DEFAULT_PAYLOAD_BYTES)) judgeProtocol(t, record, listener, checks, findings);

  if (findings.length === 0 && s.connectOnly) {
    findings.push(
      makeFinding('OK', `${t.display}: accepted the connection in ${responseMs === null ? '?' : formatDuration(responseMs)}; closed by udsctl (--connect-only)`, {
        cause: 'the server accepted the connection (liveness only: nothing was sent or read, so its protocol was not checked)',
      }),
    );
  }
  if (findings.length === 0 && record?.end === 'sent') {
    const what = record.bytesSent > 0 ? `took a datagram of ${record.bytesSent} bytes` : 'accepts datagrams (connect(2) succeeded; nothing sent)';
    findings.push(makeFinding('OK', `${t.display}: ${what}`));
  }
  if (findings.length === 0) {
    const how =
      record?.socketType === 'dgram'
        ? 'datagram socket'
        : record?.socketType === 'seqpacket' && !s.contractGiven && record.end === 'open'
          ? 'seqpacket connection left open'
          : s.contract === 'keep-alive'
        ? 'connection kept open (keep-alive)'
        : s.closeTimeout > 0
          ? 'server closed (one-shot)'
          : 'close not checked';
    findings.push(makeFinding('OK', `${t.display}: replied in ${responseMs === null ? '?' : formatDuration(responseMs)}; ${how}`));
  }
  // Check order; within one check, the worst first.
  const order = (f: Finding) => (f.check === null ? -1 : CHECKS.indexOf(f.check));
  findings.sort((a, b) => order(a) - order(b) || RANK[b.severity] - RANK[a.severity]);
  const status = worstSeverity(findings.map((f) => f.severity));
  const primary = findings.find((f) => f.severity === status)!;
  return {
    target: t.display,
    kind: t.kind,
    socketType: record?.socketType ?? (s.socketType && t.kind !== 'tcp' ? s.socketType : null),
    socketTypeSource: record?.socketType ? (record.socketTypeSource ?? null) : s.socketType && t.kind !== 'tcp' ? 'option' : null,
    server,
    status,
    finding: primary,
    findings,
    checks: checks.list(),
    contract: s.contract,
    until: record?.until ?? formatEndRule(s.until),
    connectOnly: s.connectOnly,
    responseMs,
    path: pathInfo,
    listener,
    exchange: record,
    attempts: 1,
    elapsedMs: 0,
    wait: null,
  };
}

const DEFAULT_PAYLOAD_BYTES = Buffer.from(DEFAULT_PROBE_PAYLOAD);

/**
 * The request each well-known server speaks, by the listening process's name (/proc/PID/comm,
 * or the first word of its command line: gunicorn and uvicorn run as python).
 */
const PROTOCOL_BY_PROCESS: ReadonlyArray<{ re: RegExp; server: string; flag: string }> = [
  { re: /^php-fpm/, server: 'php-fpm (FastCGI)', flag: '--fastcgi /ping' },
  { re: /^redis-server/, server: 'Redis (RESP)', flag: '--resp PING' },
  { re: /^(nginx|gunicorn|uvicorn|dockerd)\b/, server: 'an HTTP server', flag: '--http /' },
];

/** What the listening process is known to speak, or null. */
function protocolOfListener(l: ListenerInfo | null): { server: string; flag: string; who: string } | null {
  for (const o of l?.owners ?? []) {
    const words = [o.name, path.basename(o.cmdline.split(' ')[0] ?? ''), ...o.cmdline.split(' ').slice(1, 2).map((w) => path.basename(w))];
    const hit = PROTOCOL_BY_PROCESS.find((p) => words.some((w) => p.re.test(w)));
    if (hit) return { ...hit, who: `pid ${o.pid} (${o.name})` };
  }
  return null;
}

/**
 * With the default payload only: a reply in another protocol (HTTP, RESP), or a reset right after
 * our line from a listener known to speak another protocol, is PROTOCOL_MISMATCH (UNKNOWN: the
 * server may be healthy, a line cannot tell) naming the flag, in place of the verdicts about the
 * reply and the close, which assumed a line protocol. A 400 to our line is never "healthy".
 */
function judgeProtocol(t: Target, r: ExchangeRecord, l: ListenerInfo | null, checks: Checklist, findings: Finding[]): void {
  if (r.timings.connectedUs === undefined) return;
  const d = t.display;
  const known = protocolOfListener(l);
  const head = r.reply.subarray(0, 64).toString('latin1');
  let detail: string | null = null;
  let fix: string | undefined;
  if (head.startsWith('HTTP/1.')) {
    const statusLine = preview(r.reply.subarray(0, Math.max(0, r.reply.indexOf('\r\n')) || r.reply.length));
    detail = `${d}: an HTTP server: it answered udsctl's line with ${statusLine}: probe with --http PATH`;
    fix = "probe with --http PATH (e.g. --http /), or --connect-only for liveness";
  } else if (/^(-[A-Z]+ |\+)/.test(head)) {
    detail = `${d}: a Redis (RESP) server: it answered udsctl's line with ${preview(r.reply)}: probe with --resp PING`;
    fix = 'probe with --resp PING (or --resp \'CMD ARG\'), or --connect-only for liveness';
  } else if (t.kind === 'unix' && r.error?.code === 'RESET' && r.bytesReceived === 0 && r.timings.writtenUs !== undefined) {
    const flag = known ? `: ${known.who} is ${known.server}: probe with ${known.flag}` : '';
    const text = `the server rejected udsctl's payload (a protocol mismatch, not necessarily a crash): probe with the protocol's request, or --connect-only`;
    if (!known) {
      // No name to go by: a reset may still be a crash, so RESET stays; its fix names both readings.
      const reset = findings.find((f) => f.code === 'RESET');
      if (reset) reset.fix = `${text}; if the server does speak lines, check its log for a crash or abort`;
      return;
    }
    detail = `${d}: ${text}${flag}`;
    fix = `probe with ${known.flag}, or --connect-only for liveness`;
  }
  if (detail === null) return;
  // The reset's detail already names the process; a reply's fix says who answered.
  if (known && head.length > 0) fix = `${known.who} is ${known.server}: ${fix}`;
  // The reply and close verdicts assumed a line protocol; a slow reply is still slow.
  for (let i = findings.length - 1; i >= 0; i--) {
    const f = findings[i];
    if ((f.check === 'reply' || f.check === 'close') && f.code !== 'SLOW') findings.splice(i, 1);
  }
  checks.worsen('reply', 'warn', 'another protocol');
  const close = checks.list().find((c) => c.name === 'close');
  if (close && close.status === 'fail') checks.update('close', 'skip', 'not judged: another protocol');
  findings.push(makeFinding('PROTOCOL_MISMATCH', detail, { fix }));
}

/**
 * --connect-only's exchange: connect, then close at once. Shaped as an exchange record (no bytes)
 * so the connect verdicts (NOT_FOUND, STALE_SOCKET, BACKLOG_FULL, ...) are judged in one place.
 * On a Unix socket connect succeeds once the kernel queues the connection, before the server's
 * accept(): a server whose backlog has room is "accepted" even if it never calls accept().
 */
async function connectAndClose(t: Target, s: Settings, type: SocketType): Promise<ExchangeRecord> {
  const start = nowUs();
  const timings: ExchangeRecord['timings'] = { totalUs: 0 };
  let error: UdsError | undefined;
  try {
    if (type === 'stream' || t.kind === 'tcp') {
      const socket = await openConnection(t, { connectTimeout: s.connectTimeout, signal: s.signal });
      timings.connectedUs = Math.round(nowUs() - start);
      socket.on('error', () => {});
      socket.destroy();
    } else {
      const sock = await connectMessage(t, type, s.connectTimeout, false, s.signal);
      timings.connectedUs = Math.round(nowUs() - start);
      sock.close();
    }
  } catch (err) {
    error = err instanceof UdsError ? err : new UdsError('IO_ERROR', `${t.display}: ${(err as Error).message}`, { target: t.display, cause: err });
  }
  timings.totalUs = Math.round(nowUs() - start);
  return nothingExchanged({ target: t.display, until: 'connect-only', ...(t.kind === 'tcp' ? {} : { socketType: type }) }, error === undefined ? 'open' : 'error', timings, error);
}

/** A listener lookup in progress: what /proc/net/unix (and sock_diag) said, before the owners are named. */
export interface ListenerSearch {
  info: ListenerInfo;
  /** The absolute names this path goes by: as given, with symlinks resolved, with its directory's symlinks resolved. */
  names: Set<string>;
  /** The socket file is there (or cannot be looked at): a name match is a listener, not a deleted one. */
  present: boolean;
  /** Listening sockets bound by a relative name that may be this path: decided by their process's working directory. */
  relative: UnixSocketEntry[];
}

/**
 * The listening sockets bound to the target. A Unix path is matched by the file, not the name:
 * the kernel's sock_diag gives the device and inode of the file each listener is bound to, so a
 * symlink to a live socket finds its listener, and a server elsewhere bound to the same relative
 * name (`./app.sock`) is not taken for this one. Where sock_diag is not available, names are used,
 * a relative one resolved against its process's working directory. A listener bound by this path
 * whose file is gone is `deleted`: the server lives, the path does not reach it.
 * (Exported for tests; `sockDiag: false` takes the by-name way, as where sock_diag is missing.)
 */
export async function findListeners(t: Target, p: PathInfo | null, sockDiag = true): Promise<ListenerSearch> {
  const info: ListenerInfo = { available: false, match: 'name', inodes: [], owners: [], hidden: false, truncated: false, deleted: { inodes: [], owners: [] } };
  const search: ListenerSearch = { info, names: new Set(), present: true, relative: [] };
  const entries = await readProcNetUnix();
  if (!entries) return search;
  info.available = true;
  if (t.kind === 'abstract') {
    info.inodes = listenersFor(entries, { abstract: t.display }).map((e) => e.inode);
    return search;
  }
  if (t.kind !== 'unix') return search;
  const abs = path.resolve(t.path);
  search.names.add(abs);
  const real = await fsp.realpath(abs).catch(() => null);
  if (real) search.names.add(real);
  const realDir = await fsp.realpath(path.dirname(abs)).catch(() => null);
  if (realDir) search.names.add(path.join(realDir, path.basename(abs)));
  search.present = p?.state !== 'absent';

  const listening = entries.filter((e) => isServerSocket(e) && !e.path.startsWith('@'));
  const byName = (e: UnixSocketEntry): boolean =>
    path.isAbsolute(e.path) ? search.names.has(path.normalize(e.path)) : [...search.names].some((n) => n.endsWith('/' + path.normalize(e.path)));
  const id: FileId | null = p?.state === 'socket' ? await fileId(abs) : null;
  const vfs = id && sockDiag ? readUnixDiagVfs(500, SERVER_STATES) : null;
  if (id && vfs) {
    info.match = 'inode';
    info.inodes = listening.filter((e) => sameFile(vfs.get(e.inode), id)).map((e) => e.inode);
    // Bound by this very name to another file: an earlier server whose file was deleted and replaced.
    info.deleted.inodes = listening
      .filter((e) => path.isAbsolute(e.path) && search.names.has(path.normalize(e.path)) && !info.inodes.includes(e.inode))
      .map((e) => e.inode);
    return search;
  }
  for (const e of listening.filter(byName)) {
    if (!path.isAbsolute(e.path)) search.relative.push(e);
    else if (search.present) info.inodes.push(e.inode);
    else info.deleted.inodes.push(e.inode);
  }
  return search;
}

/**
 * The server's process: from the connected socket (SO_PEERCRED: the process
 * that bound or listened, exact even across namespaces), else the one process
 * /proc/net/unix + sock_diag and /proc/<pid>/fd found holding the listener.
 */
async function serverProcess(r: ExchangeRecord | null, l: ListenerInfo | null): Promise<ServerProcess | null> {
  if (r?.peer) {
    const names = await processNames(r.peer.pid);
    return { pid: r.peer.pid, uid: r.peer.uid, gid: r.peer.gid, name: names?.name ?? '?', cmdline: names?.cmdline ?? '', source: 'peercred' };
  }
  const pids = new Set(l?.owners.map((o) => o.pid));
  if (l && pids.size === 1) return { pid: l.owners[0].pid, name: l.owners[0].name, cmdline: l.owners[0].cmdline, source: 'proc' };
  return null;
}

/** Name the processes holding the listeners, and settle relative names by those processes' working directories. */
export async function nameListeners(search: ListenerSearch, budgetMs: number): Promise<void> {
  const { info } = search;
  const all = [...info.inodes, ...info.deleted.inodes, ...search.relative.map((e) => e.inode)];
  if (all.length === 0) return;
  const found = await findSocketOwners(all, budgetMs);
  info.hidden = found.hidden;
  info.truncated = found.truncated;
  for (const e of search.relative) {
    const owner = found.owners.find((o) => o.inode === e.inode);
    const cwd = owner ? await processCwd(owner.pid) : null;
    // Not visible to us: the name is all we have (the file's presence decides which list).
    if (cwd !== null && !search.names.has(path.resolve(cwd, e.path))) continue; // a namesake elsewhere
    (search.present ? info.inodes : info.deleted.inodes).push(e.inode);
  }
  info.owners = found.owners.filter((o) => info.inodes.includes(o.inode));
  info.deleted.owners = found.owners.filter((o) => info.deleted.inodes.includes(o.inode));
}

function describeOwners(s: Settings, l: ListenerInfo, owners: ProcessInfo[]): string {
  return owners.length
    ? owners.map((o) => `pid ${o.pid} (${o.cmdline || o.name})`).join(', ')
    : l.hidden
      ? `process not visible to ${s.identity.describe}; run as root to name it`
      : l.truncated
        ? 'process not found within the lookup budget'
        : 'no process found holding it';
}

function judgeListener(
  t: Target,
  s: Settings,
  l: ListenerInfo,
  r: ExchangeRecord | null,
  p: PathInfo | null,
  checks: Checklist,
  findings: Finding[],
  took: number,
): void {
  if (!l.available) return checks.set('listener', 'skip', 'no /proc/net/unix on this system', took);
  const gone = l.deleted.inodes.length > 0 ? describeOwners(s, l, l.deleted.owners) : '';
  if (t.kind === 'unix' && p?.state === 'absent') {
    if (!gone) return checks.set('listener', 'skip', 'no socket file, and nothing listens by this name');
    // "Someone deleted my socket": the server is alive, its file is not. That, not NOT_FOUND, is the diagnosis.
    checks.set('listener', 'fail', `the socket file is gone, yet ${gone} still listens by this name`, took);
    const i = findings.findIndex((f) => f.code === 'NOT_FOUND');
    if (i >= 0) findings.splice(i, 1);
    findings.push(
      makeFinding('SOCKET_DELETED', `${t.display}: the socket file was deleted, but ${gone} still listens on the socket bound to it (unreachable by the path)`),
    );
    return;
  }
  const alsoGone = gone ? `; also ${gone} listens on an earlier, deleted file of this name` : '';
  if (l.inodes.length > 0) {
    const who = describeOwners(s, l, l.owners);
    const many = l.inodes.length > 1 ? `${l.inodes.length} listening sockets on this file; ` : '';
    const verb = r?.socketType === 'dgram' ? 'bound (datagram)' : 'listening';
    return checks.set('listener', 'ok', `${verb}: ${many}${who}${alsoGone}`, took);
  }
  const code = r?.error?.code;
  if (r && r.timings.connectedUs !== undefined) {
    // connect works but the kernel lists no listener here: it lives in another network namespace.
    return checks.set('listener', 'ok', 'not in /proc/net/unix, yet connect works: the server is in another network namespace (a container?)', took);
  }
  if (code === 'REFUSED') {
    return checks.set('listener', 'fail', t.kind === 'abstract' ? 'nothing is bound to this name' : `no process listens on it (not in /proc/net/unix)${alsoGone}`, took);
  }
  if (t.kind === 'unix' && code === 'PERMISSION_DENIED' && p?.state === 'socket') {
    // We may not connect, but the kernel still tells whether anyone listens: say so, it changes the fix.
    checks.set('listener', 'fail', 'no process listens on it (not in /proc/net/unix)', took);
    findings.push(makeFinding('STALE_SOCKET', `${t.display}: besides, no process listens on it (not in /proc/net/unix): the file is stale`));
    return;
  }
  checks.set('listener', 'warn', 'not in /proc/net/unix', took);
}

const TYPE_SOURCE_TEXT: Readonly<Record<SocketTypeSource, string>> = {
  option: '--type',
  proc: 'type from /proc/net/unix',
  connect: 'type found by connecting',
  tcp: 'TCP',
};

/** Turn the exchange record into checks and findings; returns the response time in ms (null: no reply). */
function judgeExchange(
  t: Target,
  s: Settings,
  r: ExchangeRecord,
  p: PathInfo | null,
  l: ListenerInfo | null,
  checks: Checklist,
  findings: Finding[],
  actualType: SocketType | null = null,
): number | null {
  const tm = r.timings;
  const e = r.error;
  const d = t.display;
  const add = (f: Finding) => findings.push(f);

  if (tm.connectedUs === undefined) {
    checks.set('connect', 'fail', e?.message ?? 'failed', ms(tm.totalUs));
    switch (e?.code) {
      case 'NOT_FOUND':
        add(makeFinding('NOT_FOUND', e.message));
        break;
      case 'NOT_A_SOCKET':
        add(makeFinding('NOT_A_SOCKET', e.message));
        break;
      case 'BAD_PATH':
        add(makeFinding('NOT_FOUND', e.message));
        break;
      case 'PERMISSION_DENIED':
        if (p?.access.allowed === false) add(makeFinding('PERMISSION_DENIED', `${d}: ${p.access.reason}`, { fix: p.access.fix }));
        else {
          add(
            makeFinding(
              'PERMISSION_DENIED',
              `${d}: ${p?.file ? `${p.file.modeString} ${p.file.owner}:${p.file.group}; ` : ''}the mode bits allow it, yet connect was denied: an ACL or a security module (AppArmor, SELinux) forbids it`,
              { fix: 'check getfacl on the socket and its directories, and the audit log for AppArmor/SELinux denials' },
            ),
          );
        }
        break;
      case 'REFUSED':
        if (t.kind === 'unix') {
          const f = p?.file ? `${p.file.modeString} ${p.file.owner}:${p.file.group} ` : '';
          add(makeFinding('STALE_SOCKET', `${d}: a ${f}socket file, but no process listens on it (connect: connection refused)`));
        } else if (t.kind === 'abstract') {
          add(makeFinding('NOT_FOUND', `${d}: nothing is bound to that abstract name`, { fix: 'start the server, or check the @name it binds' }));
        } else add(makeFinding('REFUSED', e.message));
        break;
      case 'CONNECT_TIMEOUT':
        add(makeFinding('CONNECT_TIMEOUT', `${d}: connect did not complete within ${formatDuration(s.connectTimeout)}`));
        break;
      case 'BACKLOG_FULL': {
        const who = l?.owners.length ? ` (the listener: pid ${l.owners[0].pid} ${l.owners[0].name})` : '';
        add(makeFinding('BACKLOG_FULL', `${d}: listen backlog stayed full for ${formatDuration(s.connectTimeout)}${who}`));
        break;
      }
      case 'RESET':
        add(makeFinding('RESET', e.message));
        break;
      case 'WRONG_TYPE': {
        const is = actualType ? `; it is a ${actualType} socket (/proc/net/unix)` : '';
        add(makeFinding('TYPE_MISMATCH', `${d}: not a ${s.socketType ?? r.socketType ?? 'stream'} socket (connect: EPROTOTYPE)${is}`));
        break;
      }
      default:
        add(makeFinding('PROBE_ERROR', e?.message ?? `${d}: connect failed`));
    }
    return null;
  }

  const typeText = r.socketType ? ` (${r.socketType} socket, ${TYPE_SOURCE_TEXT[r.socketTypeSource ?? 'connect']})` : '';
  checks.set('connect', 'ok', `connected${typeText}`, ms(tm.connectedUs));
  const dgram = r.socketType === 'dgram';
  if (p?.access.allowed === false) {
    checks.update('path', 'ok', `${p.access.reason}; yet connect was allowed (an ACL grants it)`);
  }
  if (s.connectOnly) {
    for (const name of ['send', 'reply', 'close'] as const) checks.set(name, 'skip', '--connect-only: nothing sent or read; closed by udsctl');
    return ms(tm.connectedUs);
  }
  const sentText =
    s.payload.length === 0 ? '' : `${s.payload.length} bytes ${preview(s.payload)}${s.halfClose ? ', then half-closed' : ''}`;
  if (dgram && r.bytesSent === 0 && tm.writtenUs !== undefined) {
    checks.set('send', 'skip', 'datagram socket: nothing sent without --send (a probe payload would land in its log)');
  } else if (s.payload.length === 0) checks.set('send', 'skip', 'nothing to send (empty payload)');
  else if (tm.writtenUs !== undefined) checks.set('send', 'ok', sentText, ms(tm.writtenUs - tm.connectedUs));
  else if (e?.code === 'RESET') checks.set('send', 'fail', `${sentText}: the server had already closed`, ms(tm.totalUs - tm.connectedUs));

  const replyFrom = tm.writtenUs ?? tm.connectedUs;
  const rule = r.until;
  const got = r.bytesReceived;
  // FastCGI: the records are framing; people (and --expect) read the application's STDOUT.
  const fcgi = s.until.kind === 'fastcgi' ? decodeFastcgiReply(r.reply) : null;
  const body = fcgi ? fcgi.stdout : r.reply;
  const replyText = `${replySize(r)} bytes${r.truncated ? ` (the first ${r.reply.length} kept, --max-reply)` : ''} ${fcgi ? `STDOUT ${preview(fcgi.body)}` : preview(r.reply)}`;
  const inKept = r.truncated ? ` in the first ${r.reply.length} bytes kept` : '';
  let replyEndUs: number | undefined;
  let complete = false;

  if (r.end === 'sent') {
    checks.set('reply', 'skip', r.bytesSent > 0 ? 'datagram socket: no reply awaited (--expect waits for one)' : 'not asked for');
    checks.set('close', 'skip', 'datagram socket: no connection to close');
    return null;
  }
  switch (e?.code) {
    case undefined: {
      complete = true;
      replyEndUs = tm.replyEndUs;
      checks.set('reply', 'ok', `${replyText} (until ${rule})`, replyEndUs === undefined ? null : ms(replyEndUs - replyFrom));
      const afterReply = ms((tm.closedUs ?? tm.totalUs) - (replyEndUs ?? tm.totalUs));
      if (dgram) {
        checks.set('close', 'skip', 'datagram socket: no connection to close');
      } else if (r.end === 'closed') {
        checks.set('close', 'ok', s.contract === 'one-shot' ? 'server closed after the reply' : 'server closed after the reply (allowed)', afterReply);
      } else if (r.end === 'reset') {
        checks.set('close', 'warn', 'connection reset after the reply, not closed cleanly', afterReply);
        add(makeFinding('RESET_AFTER_REPLY', `${d}: the reply was complete, then the connection was reset instead of closed`));
      } else if (s.contract === 'keep-alive') {
        checks.set('close', 'ok', 'kept open (keep-alive); closed by udsctl', null);
      } else if (r.socketType === 'seqpacket' && !s.contractGiven) {
        checks.set('close', 'skip', 'seqpacket: left open, as message protocols are (--expect-close checks that the server closes)');
      } else if (s.closeTimeout <= 0) {
        checks.set('close', 'skip', 'not checked (--close-timeout 0)');
      } else {
        checks.set('close', 'fail', `still open ${formatDuration(s.closeTimeout)} after the reply (one-shot contract)`, afterReply);
        add(makeFinding('NEVER_CLOSED', `${d}: replied (${replyText}), but the connection was still open ${formatDuration(s.closeTimeout)} later`));
      }
      break;
    }
    case 'REPLY_TIMEOUT':
      if (got === 0) {
        checks.set('reply', 'fail', `no reply within ${formatDuration(s.timeout)}`, ms(tm.totalUs - replyFrom));
        add(makeFinding('SILENT', `${d}: connected and sent ${r.bytesSent} bytes; no reply within ${formatDuration(s.timeout)}`));
      } else {
        const nl = s.until.kind === 'line' ? '; no newline in it' : '';
        checks.set('reply', 'fail', `${replyText}, end rule ${rule} not met within ${formatDuration(s.timeout)}${nl}`, ms(tm.totalUs - replyFrom));
        add(
          makeFinding(
            'PARTIAL_REPLY',
            `${d}: ${replyText} within ${formatDuration(s.timeout)}, but the end rule (${rule}) was never met and the connection stayed open${nl}${r.frameState ? `: ${r.frameState}` : ''}`,
          ),
        );
      }
      checks.set('close', 'not-reached', 'the reply never ended');
      break;
    case 'NEVER_CLOSED':
      // --until eof: the reply is whatever came before our timeout.
      complete = true;
      replyEndUs = tm.firstByteUs;
      checks.set('reply', 'ok', `${replyText} (until eof, first byte)`, replyEndUs === undefined ? null : ms(replyEndUs - replyFrom));
      checks.set('close', 'fail', `still open ${formatDuration(s.timeout)} after connecting (--until eof)`, ms(tm.totalUs - (replyEndUs ?? 0)));
      add(makeFinding('NEVER_CLOSED', `${d}: replied (${replyText}), but never closed the connection within ${formatDuration(s.timeout)}`));
      break;
    case 'CLOSED_EARLY':
      checks.set('close', 'not-reached', 'the server closed before a complete reply');
      if (got === 0) {
        checks.set('reply', 'fail', 'server closed without sending a byte', ms((tm.closedUs ?? tm.totalUs) - replyFrom));
        add(makeFinding('CLOSED_WITHOUT_REPLY', `${d}: the server closed the connection without replying`));
      } else if (s.until.kind === 'line') {
        complete = true;
        replyEndUs = tm.closedUs;
        checks.set('close', 'ok', 'server closed');
        checks.set('reply', 'warn', `${replyText}, ended by close without a trailing newline`, ms((tm.closedUs ?? tm.totalUs) - replyFrom));
        add(makeFinding('NO_NEWLINE', `${d}: reply ${replyText} has no trailing newline; it ended only because the server closed`));
      } else {
        checks.set('reply', 'fail', `${replyText}, then closed before the end rule ${rule}`, ms((tm.closedUs ?? tm.totalUs) - replyFrom));
        add(makeFinding('PARTIAL_REPLY', `${d}: the server closed after ${replyText}, before the end rule (${rule}) was met${r.frameState ? `: ${r.frameState}` : ''}`));
      }
      break;
    case 'BAD_FRAME':
      checks.set('reply', 'fail', `${replyText}: not a valid ${rule} reply`, ms(tm.totalUs - replyFrom));
      checks.set('close', 'not-reached', 'the reply broke its protocol');
      add(makeFinding('MISMATCH', e.message));
      break;
    case 'RESET': {
      const at = got === 0 ? 'before any reply' : `after ${replyText}, before the end of the reply`;
      checks.set('reply', 'fail', `connection reset ${at}`, ms(tm.totalUs - replyFrom));
      checks.set('close', 'not-reached', 'reset');
      add(makeFinding('RESET', `${d}: connection reset by the server ${at}`));
      break;
    }
    default:
      checks.set('reply', 'fail', e?.message ?? 'failed', ms(tm.totalUs - replyFrom));
      add(makeFinding('PROBE_ERROR', e?.message ?? `${d}: exchange failed`));
  }
  if (!complete) return null;
  if (r.frame) protocolFindings(r, s, d, checks, add);

  if (s.expect !== undefined && !body.includes(s.expect)) {
    checks.worsen('reply', 'fail', `does not contain ${preview(s.expect)}${inKept}`);
    add(makeFinding('MISMATCH', `${d}: reply ${preview(fcgi ? fcgi.body : body)} does not contain ${preview(s.expect)}${inKept} (--expect)`));
  }
  // At most MAX_REGEX_INPUT bytes are matched (the linear automaton's cost bounded too).
  if (s.expectRegex !== undefined && !s.expectRegex.test(body.subarray(0, MAX_REGEX_INPUT).toString('utf8'))) {
    checks.worsen('reply', 'fail', `does not match ${s.expectRegex}${inKept}`);
    add(makeFinding('MISMATCH', `${d}: reply ${preview(fcgi ? fcgi.body : body)} does not match ${s.expectRegex}${inKept} (--expect-regex)`));
  }
  if ((s.expect || s.expectRegex) && !findings.some((f) => f.code === 'MISMATCH')) checks.worsen('reply', 'ok', 'as expected');

  if (replyEndUs === undefined) return null;
  const response = ms(replyEndUs);
  if (s.crit !== undefined && s.crit > 0 && response > s.crit) {
    checks.worsen('reply', 'fail', `slow: over --crit ${formatDuration(s.crit)}`);
    add(makeFinding('SLOW', `${d}: the reply took ${formatDuration(response)}, over --crit ${formatDuration(s.crit)}`, { severity: 'CRITICAL' }));
  } else if (s.warn > 0 && response > s.warn) {
    checks.worsen('reply', 'warn', `slow: over --warn ${formatDuration(s.warn)}`);
    add(makeFinding('SLOW', `${d}: the reply took ${formatDuration(response)}, over --warn ${formatDuration(s.warn)}`));
  }
  return response;
}

/**
 * What a protocol's framer read in a complete reply: an HTTP status outside
 * 2xx (or not --expect-status) is HTTP_STATUS, 4xx WARNING and 5xx CRITICAL
 * (any status but the expected one CRITICAL); a RESP error reply is MISMATCH.
 */
function protocolFindings(r: ExchangeRecord, s: Settings, d: string, checks: Checklist, add: (f: Finding) => void): void {
  const f = r.frame!;
  if (s.until.kind === 'fastcgi') return fastcgiFindings(r, s, d, checks, add);
  if (s.until.kind === 'http') {
    const line = r.reply.subarray(0, Math.max(0, r.reply.indexOf(0x0a))).toString('latin1').trim();
    const shown = escapeText(line, { max: 80 });
    const healthy = s.expectStatus !== undefined ? f.status === s.expectStatus : f.status >= 200 && f.status < 300;
    if (healthy) return checks.worsen('reply', 'ok', `${shown}${s.expectStatus !== undefined ? ' (as --expect-status)' : ''}`);
    const severity: Severity = s.expectStatus !== undefined || f.status >= 500 ? 'CRITICAL' : 'WARNING';
    checks.worsen('reply', severity === 'CRITICAL' ? 'fail' : 'warn', shown);
    const want = s.expectStatus !== undefined ? `--expect-status ${s.expectStatus}` : 'a 2xx';
    add(makeFinding('HTTP_STATUS', `${d}: the server answered ${shown}, not ${want}`, { severity }));
    return;
  }
  if (f.failed) {
    checks.worsen('reply', 'fail', `error reply ${preview(r.reply)}`);
    add(makeFinding('MISMATCH', `${d}: the server answered with an error reply ${preview(r.reply)}`));
  }
}

/**
 * A complete FastCGI reply: a refused request (END_REQUEST OVERLOADED, CANT_MPX_CONN, UNKNOWN_ROLE)
 * is MISMATCH; a CGI Status: outside 2xx (or not --expect-status) is HTTP_STATUS as for --http
 * (php-fpm's "Primary script unknown" is a 404); STDERR records are said on the reply check.
 */
function fastcgiFindings(r: ExchangeRecord, s: Settings, d: string, checks: Checklist, add: (f: Finding) => void): void {
  const v = decodeFastcgiReply(r.reply);
  if (v.stderr.length > 0) checks.worsen('reply', 'ok', `STDERR ${preview(v.stderr, 60)}`);
  if (v.end && v.end.protocolStatus !== 0) {
    const why = PROTOCOL_STATUS[v.end.protocolStatus] ?? `protocol status ${v.end.protocolStatus}`;
    checks.worsen('reply', 'fail', `request refused: ${why}`);
    add(makeFinding('MISMATCH', `${d}: the FastCGI server refused the request: END_REQUEST ${why}`));
    return;
  }
  const status = r.frame!.status;
  const shown = `Status: ${escapeText(v.statusText, { max: 60 })}`;
  const healthy = s.expectStatus !== undefined ? status === s.expectStatus : status >= 200 && status < 300;
  if (healthy) return checks.worsen('reply', 'ok', `${shown}${s.expectStatus !== undefined ? ' (as --expect-status)' : ''}`);
  const severity: Severity = s.expectStatus !== undefined || status >= 500 || status === 0 ? 'CRITICAL' : 'WARNING';
  checks.worsen('reply', severity === 'CRITICAL' ? 'fail' : 'warn', status === 0 ? 'no STDOUT at all' : shown);
  const want = s.expectStatus !== undefined ? `--expect-status ${s.expectStatus}` : 'a 2xx';
  const err = v.stderr.length > 0 ? `; STDERR ${preview(v.stderr, 60)}` : '';
  add(makeFinding('HTTP_STATUS', `${d}: the application answered ${status === 0 ? 'with no STDOUT' : shown}, not ${want}${err}`, { severity }));
}
