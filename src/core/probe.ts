/**
 * The health check: look at the path, the listener, then one bounded exchange,
 * and name what is wrong. Data in, report out: never prints, never exits; the
 * CLI turns the report's severity into an exit status.
 *
 * The steps are here (probe, probeOnce); the judging is in probe/: settings.ts
 * (options to Settings), checklist.ts (checks and findings), listener.ts,
 * judge-exchange.ts, protocol.ts, and the findings table in findings.ts.
 */
import { nowMs, nowUs } from './clock.js';
import { formatDuration } from './duration.js';
import { formatEndRule } from './framing/end-rule.js';
import { UdsError } from './errors.js';
import { type ExchangeRecord, exchange, nothingExchanged } from './exchange.js';
import { connectMessage } from './exchange-message.js';
import { openConnection } from './socket/connect.js';
import { type Target, checkTarget } from './socket/target.js';
import { type SocketType, type SocketTypeSource, socketTypeFromProc } from './socket/socket-type.js';
import { type PathInfo, inspectPath } from './socket/path-access.js';
import { type Severity, type Finding, type ListenerInfo, type ProbeReport, worstSeverity, CHECKS, RANK } from './probe/findings.js';
import { DEFAULT_PROBE_PAYLOAD, PROBE_DEFAULTS, settings, type ProbeOptions, type Settings } from './probe/settings.js';
import { ms, makeFinding, Checklist } from './probe/checklist.js';
import { type ServerSocket, readServerSockets } from './socket/server-sockets.js';
import { type ListenerSearch, findListeners, serverProcess, nameListeners, judgeListener } from './probe/listener.js';
import { judgeProtocol } from './probe/protocol.js';
import { judgeExchange } from './probe/judge-exchange.js';
import { checkService, judgeWrongProtocol, recogniseAfter, recogniseBefore, serviceInfo } from './probe/service-check.js';
import { recogniseBanner, type Recognition } from './service/index.js';
import type { ServiceInfo } from './probe/findings.js';

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
  type ServiceInfo,
  SEVERITIES,
  SEVERITY_EXIT,
  worstSeverity,
  CHECKS,
  FINDINGS,
  findingInfo,
  CONTRACTS,
} from './probe/findings.js';
export { DEFAULT_PROBE_PAYLOAD, PROBE_DEFAULTS, type ProbeOptions } from './probe/settings.js';
export { preview } from './probe/checklist.js';
export { type ListenerSearch, findListeners, nameListeners } from './probe/listener.js';

/**
 * Probe one target: path, listener, connect, send, reply, close. With `wait`,
 * retries every `interval` until healthy (OK or WARNING) or the deadline; no
 * attempt starts after the deadline. Never rejects for a socket failure; throws
 * UdsError only for bad options or a malformed target.
 */
export async function probe(target: Target | string, opts: ProbeOptions = {}): Promise<ProbeReport> {
  return probeWith(checkTarget(target), opts, readServerSockets);
}

/** probe(), the kernel's socket table read through `servers` (probeAll's shared snapshot). */
async function probeWith(t: Target, opts: ProbeOptions, servers: ServerSocketsReader): Promise<ProbeReport> {
  const s = settings(opts);
  const start = nowUs();
  if (opts.wait === undefined) {
    const r = await probeOnce(t, s, servers);
    r.elapsedMs = ms(nowUs() - start);
    return r;
  }
  const interval = opts.interval ?? PROBE_DEFAULTS.interval;
  if (!(interval > 0)) throw new UdsError('BAD_OPTION', '--interval must be above 0');
  const deadline = nowMs() + opts.wait;
  for (let attempt = 1; ; attempt++) {
    const r = await probeOnce(t, s, servers);
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
  // One sock_diag dump serves the targets that look within SNAPSHOT_MS of it (1,000 targets made 1,000 dumps of every socket).
  const servers = parsed.length > 1 ? snapshotOf(readServerSockets, SNAPSHOT_MS) : readServerSockets;
  const reports = await inPool(parsed, PROBE_CONCURRENCY, (t) => probeWith(t, opts, servers));
  return { status: worstSeverity(reports.map((r) => r.status)), reports };
}

/**
 * Targets probed at once, at most: each holds a connection, a /proc lookup and
 * its reply, so 1,000 targets at once took 530 MB; a pool keeps that flat and
 * the time linear in the targets (a handful, the usual case, still all at once).
 */
export const PROBE_CONCURRENCY = 128;

/** How old a shared snapshot of the kernel's socket table may be for another target of the same probeAll. */
const SNAPSHOT_MS = 250;

type ServerSocketsReader = () => ServerSocket[] | null;

/** `read`, its result reused while younger than `maxAgeMs`. */
function snapshotOf(read: ServerSocketsReader, maxAgeMs: number): ServerSocketsReader {
  let at = -Infinity;
  let last: ServerSocket[] | null = null;
  return () => {
    if (nowMs() - at >= maxAgeMs) {
      last = read();
      at = nowMs();
    }
    return last;
  };
}

/** `work` over `items`, at most `size` at a time; the results in the items' order. */
async function inPool<T, R>(items: readonly T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(size, items.length) }, worker));
  return out;
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

async function probeOnce(t: Target, s: Settings, servers: ServerSocketsReader): Promise<ProbeReport> {
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
    search = await findListeners(t, pathInfo, true, servers);
    listener = search.info;
  }
  const listenerMs = lookListener ? ms(nowUs() - listenerStarted) : null;

  // What the server is: the flag, the listening process, the path, the socket type (src/core/service).
  let ownersMs = 0;
  let named = false;
  const known = tryConnect && findings.length === 0 ? (t.kind === 'tcp' ? 'stream' : (s.socketType ?? (await socketTypeFromProc(t)))) : null;
  let rec: Recognition | null = null;
  if (tryConnect && findings.length === 0) {
    if (search && !s.as) {
      // Named before the exchange to recognise the service; the exchange's times start after.
      const t0 = nowUs();
      await nameListeners(search, s.ownerLookupBudget);
      ownersMs = ms(nowUs() - t0);
      named = true;
    }
    rec = await recogniseBefore(t, s, pathInfo, listener, known);
  }
  const svc = rec?.service ?? null;
  const own = !s.driven && !s.connectOnly && svc !== null && (svc.check.kind === 'request' || svc.check.kind === 'dialogue');
  let okDetail: string | null = null;
  let details: ServiceInfo['details'] = {};

  // 3-6. Connect, send, reply, close: the service's own check, or one bounded exchange on the socket's type.
  let typeSource: SocketTypeSource | null = null;
  if (tryConnect && findings.length === 0 && own) {
    const out = await checkService(t, s, svc, pathInfo, listener, checks, findings, known ? (s.socketType ? 'option' : 'proc') : 'connect');
    record = out.record;
    responseMs = out.responseMs;
    okDetail = out.okDetail;
    details = out.details;
  } else if (tryConnect && findings.length === 0 && !s.driven && !s.connectOnly && s.expect === undefined && s.expectRegex === undefined && svc?.check.kind === 'connect') {
    // Listen-only services (sd_notify, journald): a connect says it is alive; a datagram would land in its log.
    record = await connectAndClose(t, s, known ?? svc.socketTypes[0]);
    record = { ...record, socketTypeSource: t.kind === 'tcp' ? undefined : s.socketType ? 'option' : known ? 'proc' : 'connect' };
    responseMs = judgeExchange(t, { ...s, connectOnly: true }, record, pathInfo, listener, checks, findings);
    for (const name of ['send', 'reply', 'close'] as const) checks.set(name, 'skip', `${svc.title}: listens only; nothing sent (it would land in its log)`);
    okDetail = `${t.display}: ${svc.title}: ${record.socketType === 'dgram' ? 'accepts datagrams' : 'accepts connections'} (connect(2) succeeded; nothing sent)`;
  } else if (tryConnect && findings.length === 0) {
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
      // sock_diag did not say (not available, another namespace): stream, seqpacket, dgram in turn.
      for (const type of ['stream', 'seqpacket', 'dgram'] as const) {
        record = await attempt(type);
        if (record.error?.code !== 'WRONG_TYPE') break;
      }
    }
    if (t.kind === 'tcp') record = { ...record!, socketType: undefined, socketTypeSource: undefined };
    else record = { ...record!, socketTypeSource: typeSource };
    // A forced --type the socket is not: say which it is, when the kernel lists it.
    const actual = record.error?.code === 'WRONG_TYPE' && s.socketType ? await socketTypeFromProc(t) : null;
    const first = findings.length;
    responseMs = judgeExchange(t, s, record, pathInfo, listener, checks, findings, actual);
    // Not recognised beforehand: its answer to our line (or its banner, or its process by SO_PEERCRED) may tell.
    // A known socket with no check of its own (gpg-agent) is as good as unrecognised here.
    const later = (!rec || (rec.known && rec.service.check.kind === 'line')) && !s.driven && !s.connectOnly && record.timings.connectedUs !== undefined ? await recogniseAfter(record) : null;
    if (later && (later.service.check.kind === 'request' || later.service.check.kind === 'dialogue')) {
      rec = later;
      findings.splice(first);
      const out = await checkService(t, s, later.service, pathInfo, listener, checks, findings, typeSource);
      record = out.record;
      responseMs = out.responseMs;
      okDetail = out.okDetail;
      details = out.details;
    }
  }
  if (rec?.by === 'flag' && (s.driven || rec.service.check.kind !== 'line') && search) {
    // A protocol flag (--http, --resp, --fastcgi, --as NAME; not --as line, which asks for the line contract):
    // does the listening process, or a greeting the server sent first (HTTP/2's SETTINGS, MySQL's), say another protocol?
    if (!named) {
      const t0 = nowUs();
      await nameListeners(search, s.ownerLookupBudget);
      ownersMs = ms(nowUs() - t0);
      named = true;
    }
    const seen =
      (await recogniseBefore(t, { ...s, as: undefined, driven: true }, pathInfo, listener, known)) ??
      (record && record.reply.length > 0 ? recogniseBanner(record.reply) : null);
    if (seen) judgeWrongProtocol(t, rec.service, seen, checks, findings);
  }

  // Name the listening process; after the exchange, so it never skews its timing.
  if (search && !named) {
    const t0 = nowUs();
    await nameListeners(search, s.ownerLookupBudget);
    ownersMs = ms(nowUs() - t0);
  }
  const server = await serverProcess(record, listener);
  if (server) {
    const how = server.source === 'peercred' ? 'from the connected socket (SO_PEERCRED)' : 'from sock_diag and /proc/<pid>/fd';
    checks.worsen('connect', 'ok', `server: pid ${server.pid} (${server.cmdline || server.name}) ${how}`);
  }
  if (lookListener) judgeListener(t, s, listener!, record, pathInfo, checks, findings, (listenerMs ?? 0) + ownersMs);
  else if (t.kind === 'tcp') checks.set('listener', 'skip', 'TCP: not looked up');
  else checks.set('listener', 'skip', 'no socket file to look up');
  if (record && (!rec || rec.service.check.kind === 'line') && s.payload.equals(DEFAULT_PAYLOAD_BYTES)) judgeProtocol(t, record, listener, checks, findings);
  if (findings.length === 0 && okDetail !== null) findings.push(makeFinding('OK', okDetail));

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
    service: rec ? serviceInfo(rec, details) : null,
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
