/**
 * What probe can find, as data: the severities and their exit statuses, the
 * checks of the checklist, the findings table (each code's severity, cause
 * and fix: the README's and the man page's table are checked against it), and
 * the shape of a report. probe.ts does the looking and the judging.
 */
import type { ExchangeRecord } from '../exchange.js';
import type { SocketType, SocketTypeSource } from '../socket/socket-type.js';
import type { Target } from '../socket/target.js';
import type { PathInfo } from '../socket/path-access.js';
import type { ProcessInfo } from '../socket/processes.js';
import { SERVICES, type RecognisedBy } from '../service/index.js';

/** Monitoring-plugin severities; the exit status is SEVERITY_EXIT[severity]. */
export const SEVERITIES = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, as Nagios-style plugins exit. */
export const SEVERITY_EXIT: Readonly<Record<Severity, number>> = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 };

/** Worse is larger. A target we could not check (UNKNOWN) is worse than a warning, better than a known failure. */
export const RANK: Readonly<Record<Severity, number>> = { OK: 0, WARNING: 1, UNKNOWN: 2, CRITICAL: 3 };

/** The worst of several severities (OK for none). */
export function worstSeverity(list: Iterable<Severity>): Severity {
  let worst: Severity = 'OK';
  for (const s of list) if (RANK[s] > RANK[worst]) worst = s;
  return worst;
}

/** The checks, in the order they run. */
export const CHECKS = ['path', 'listener', 'connect', 'send', 'reply', 'close'] as const;
export type CheckName = (typeof CHECKS)[number];

export interface FindingInfo {
  code: string;
  severity: Severity;
  /** The check that produces it (null: the verdict as a whole). */
  check: CheckName | null;
  /** A few words: the verdict. */
  title: string;
  /** One line: why this happens. */
  cause: string;
  /** One line: what to do. */
  fix: string;
}

/**
 * probe's own findings, whatever the service; FINDINGS adds each service's
 * (src/core/service: PG_STARTING, REDIS_LOADING, ...).
 * SLOW is WARNING over --warn and CRITICAL over --crit.
 */
const BASE_FINDINGS = [
  {
    code: 'OK',
    severity: 'OK',
    check: null,
    title: 'healthy',
    cause: 'the server accepted, replied as expected and kept the connection contract',
    fix: 'nothing to do',
  },
  {
    code: 'NOT_FOUND',
    severity: 'CRITICAL',
    check: 'path',
    title: 'socket not found',
    cause: 'nothing exists at the path: the server is not running, or it listens somewhere else',
    fix: 'start the server, or probe the path it is configured to listen on ($UDSCTL_SOCKET or an argument)',
  },
  {
    code: 'NOT_A_SOCKET',
    severity: 'CRITICAL',
    check: 'path',
    title: 'not a socket',
    cause: 'the path is a regular file, directory or other non-socket: a leftover or a misconfigured path',
    fix: 'point server and clients at the same socket path; remove the leftover file if nothing uses it',
  },
  {
    code: 'PERMISSION_DENIED',
    severity: 'CRITICAL',
    check: 'path',
    title: 'permission denied',
    cause: 'connecting needs write permission on the socket file and search (x) permission on every parent directory',
    fix: 'have the server create the socket with a mode and group its clients share (e.g. 0660), or add the client user to that group',
  },
  {
    code: 'STALE_SOCKET',
    severity: 'CRITICAL',
    check: 'listener',
    title: 'stale socket (no listener)',
    cause: 'the socket file was left behind by a server that crashed or was killed; nothing listens on it',
    fix: 'restart the server (it should remove a stale file before binding); delete the file if the service is retired',
  },
  {
    code: 'SOCKET_DELETED',
    severity: 'CRITICAL',
    check: 'path',
    title: 'socket file deleted, server still listening',
    cause: 'the socket file was removed (a cleanup job, a second instance that unlinks before binding, rm) while its server kept listening: the server is alive, but no client can reach it by the path',
    fix: 'restart the server (or have it recreate its socket), then find what deleted the file (systemd-tmpfiles, a second instance, a deploy script)',
  },
  {
    code: 'REFUSED',
    severity: 'CRITICAL',
    check: 'connect',
    title: 'connection refused',
    cause: 'nothing listens on that TCP address',
    fix: 'start the server, or check the host and port',
  },
  {
    code: 'CONNECT_TIMEOUT',
    severity: 'CRITICAL',
    check: 'connect',
    title: 'connect timeout',
    cause: 'the connection was not established within --connect-timeout (server overloaded, or packets dropped)',
    fix: 'check that the server is alive and accepting; raise --connect-timeout only if it is merely slow',
  },
  {
    code: 'BACKLOG_FULL',
    severity: 'CRITICAL',
    check: 'connect',
    title: 'listen backlog full',
    cause: 'the listen queue stayed full for --connect-timeout: the server accepts too slowly or not at all (stuck event loop or accept thread)',
    fix: 'find why the server stopped accepting (its stack, its CPU); raise its listen backlog only if it is merely bursty',
  },
  {
    code: 'TYPE_MISMATCH',
    severity: 'CRITICAL',
    check: 'connect',
    title: 'socket type mismatch',
    cause: 'the socket is of another type than the client opens (stream, seqpacket and dgram sockets never connect to each other: EPROTOTYPE); clients of this service fail the same way',
    fix: 'open the type the server bound (leave out --type and udsctl finds it; /proc/net/unix shows it: 0001 stream, 0002 dgram, 0005 seqpacket)',
  },
  {
    code: 'SILENT',
    severity: 'CRITICAL',
    check: 'reply',
    title: 'accepted but never replied',
    cause: 'the server accepted the connection but sent nothing within --timeout (stuck handler, or it waits for more input)',
    fix: 'check the handler; if it reads until end-of-file probe with --half-close, if it wants a line end --send with \\n',
  },
  {
    code: 'CLOSED_WITHOUT_REPLY',
    severity: 'CRITICAL',
    check: 'reply',
    title: 'closed without reply',
    cause: 'the server closed the connection without sending a byte (handler crashed, request rejected, connection limit)',
    fix: "check the server's log for this connection and the request format (--send)",
  },
  {
    code: 'RESET',
    severity: 'CRITICAL',
    check: 'reply',
    title: 'connection reset',
    cause: 'the server aborted the connection before the reply was complete (on a Unix socket: it closed with our request unread)',
    fix: "check the server's log for a crash or abort; the server must read the request and reply before closing",
  },
  {
    code: 'PARTIAL_REPLY',
    severity: 'CRITICAL',
    check: 'reply',
    title: 'partial reply',
    cause: 'a reply started but did not reach the end rule (--until) within --timeout or before the server closed',
    fix: 'make the server finish its replies as the protocol says (e.g. a trailing \\n for --until line), or probe with the right --until',
  },
  {
    code: 'MISMATCH',
    severity: 'CRITICAL',
    check: 'reply',
    title: 'reply mismatch',
    cause: 'the reply does not match --expect / --expect-regex: another service, an error reply, or a changed protocol',
    fix: 'check that the path belongs to the intended service and read the reply shown',
  },
  {
    code: 'PROTOCOL_MISMATCH',
    severity: 'UNKNOWN',
    check: 'reply',
    title: 'another protocol',
    cause: "the server answered udsctl's default line in its own protocol, or dropped it unread: it may well be healthy, but a line cannot tell",
    fix: "probe with the protocol's request (--http PATH, --resp PING, --fastcgi /ping), or --connect-only for liveness",
  },
  {
    code: 'WRONG_PROTOCOL',
    severity: 'UNKNOWN',
    check: 'reply',
    title: 'the flag names another protocol',
    cause: 'a protocol flag (--http, --resp, --fastcgi, --as) asked for one protocol, but the listening process (or a greeting the server sent first) says it speaks another: its failure says nothing about the server',
    fix: 'probe with the protocol the server speaks (the detail names it), or with no protocol flag: udsctl recognises it',
  },
  {
    code: 'HTTP_STATUS',
    severity: 'WARNING',
    check: 'reply',
    title: 'HTTP error status',
    cause: 'the HTTP server answered, but not with 2xx (or not with --expect-status): 4xx is WARNING (the request or the route is wrong), 5xx CRITICAL (the application behind it fails)',
    fix: 'read the status and the body shown; probe the path that answers 2xx when healthy (a /healthz), or say the status you expect with --expect-status',
  },
  {
    code: 'NO_NEWLINE',
    severity: 'WARNING',
    check: 'reply',
    title: 'reply without trailing newline',
    cause: 'the reply ends without \\n: line-reading clients (PHP_NORMAL_READ, readline) keep waiting for the end of the line',
    fix: 'end every reply with \\n',
  },
  {
    code: 'NEVER_CLOSED',
    severity: 'CRITICAL',
    check: 'close',
    title: 'replied but never closed',
    cause: 'clients that read until end-of-file block forever',
    fix: 'close the connection after replying, e.g. Go: `defer conn.Close()`; if the protocol is persistent, probe with --keep-alive',
  },
  {
    code: 'RESET_AFTER_REPLY',
    severity: 'WARNING',
    check: 'close',
    title: 'reset after reply',
    cause: 'the server closed with part of the request unread, so the client saw a reset instead of a clean end-of-file',
    fix: 'read the whole request before closing',
  },
  {
    code: 'SLOW',
    severity: 'WARNING',
    check: 'reply',
    title: 'slow reply',
    cause: 'the reply took longer than --warn (WARNING) or --crit (CRITICAL): an overloaded server or a slow dependency',
    fix: 'find what the handler waits on (CPU, locks, a database); adjust --warn / --crit if the thresholds are too tight',
  },
  {
    code: 'PROBE_ERROR',
    severity: 'UNKNOWN',
    check: null,
    title: 'probe failed',
    cause: 'udsctl itself could not carry out the check (out of file descriptors, an unexpected OS error)',
    fix: 'read the message: it names the OS error (for "out of file descriptors", raise ulimit -n)',
  },
] as const satisfies readonly FindingInfo[];

/**
 * Every finding, its severity, cause and fix: the one table the renderers,
 * --help, README and the man page are written from. Codes are stable. probe's
 * own first, then each service's (judged on the reply), in the services' order.
 */
export const FINDINGS: readonly FindingInfo[] = [
  ...BASE_FINDINGS,
  ...SERVICES.flatMap((svc) => svc.findings.map((f): FindingInfo => ({ ...f, check: 'reply' }))),
];

/** probe's own codes, checked by the compiler; a service's codes are strings from its table (findingInfo throws on an unknown one). */
export type FindingCode = (typeof BASE_FINDINGS)[number]['code'] | (string & Record<never, never>);

const BY_CODE = new Map<string, FindingInfo>(FINDINGS.map((f) => [f.code, f]));

/** The table row of a finding code. */
export function findingInfo(code: FindingCode): FindingInfo {
  const row = BY_CODE.get(code);
  if (!row) throw new Error(`no finding ${code} in the findings table`);
  return row;
}

/** One finding about one target: the table row plus what was seen. */
export interface Finding {
  code: FindingCode;
  severity: Severity;
  check: CheckName | null;
  title: string;
  /** One line: what exactly was seen on this target. */
  detail: string;
  cause: string;
  /** The table's fix, or a more specific one (e.g. naming the group to join). */
  fix: string;
}

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip' | 'not-reached';

export interface Check {
  name: CheckName;
  status: CheckStatus;
  /** How long the check took, in milliseconds (µs precision); null when it did not run. */
  ms: number | null;
  detail: string;
}

/** What the server promises about the connection after a reply. */
export const CONTRACTS = ['one-shot', 'keep-alive'] as const;
export type Contract = (typeof CONTRACTS)[number];

export interface ListenerInfo {
  /** sock_diag could be read. */
  available: boolean;
  /**
   * How listeners were matched to the socket file: `inode`, by the device and inode of the file
   * each listening socket is bound to (the kernel's sock_diag; exact whatever name the server bound,
   * relative or through a symlink); `name`, by the name sock_diag gives (a relative name resolved
   * against the owning process's working directory when it is visible).
   */
  match: 'inode' | 'name';
  /** Inodes of the listening sockets bound to the target's file. */
  inodes: number[];
  /** Processes that hold them. */
  owners: ProcessInfo[];
  /** Some processes could not be looked at (another user's, when not root). */
  hidden: boolean;
  /** The lookup budget ran out before every process was looked at. */
  truncated: boolean;
  /**
   * Listening sockets bound by this path to a file that is no longer there (deleted, or replaced
   * by another file): a server alive but unreachable by the path. Their owners when found.
   */
  deleted: { inodes: number[]; owners: ProcessInfo[] };
}

/** The server's process: from the connected socket (SO_PEERCRED), or from sock_diag and /proc/<pid>/fd. */
export interface ServerProcess {
  pid: number;
  uid?: number;
  gid?: number;
  name: string;
  cmdline: string;
  source: 'peercred' | 'proc';
}

/** The service probe recognised, how it knew, and what its check learnt (version, keys, ...). */
export interface ServiceInfo {
  /** The --as name ('memcached'); 'line' for the seed's contract. */
  name: string;
  title: string;
  recognisedBy: RecognisedBy | null;
  /** One line: the evidence ("pid 812 (memcached) is memcached"). */
  evidence: string;
  /** What the check found out, from the service's reply. */
  details: Record<string, string | number | boolean>;
}

export interface ProbeReport {
  target: string;
  /** What the target was recognised as and checked in; null: not recognised (the seed's line contract). */
  service: ServiceInfo | null;
  kind: Target['kind'];
  /** The Unix socket type (null: TCP, or not known because nothing was reached) and how it was learnt. */
  socketType: SocketType | null;
  socketTypeSource: SocketTypeSource | null;
  /** Who serves it, when known. */
  server: ServerProcess | null;
  status: Severity;
  /** The main finding: the worst, and of equals the one from the earliest check. */
  finding: Finding;
  /** Every finding, in check order (at least one: OK when healthy). */
  findings: Finding[];
  checks: Check[];
  contract: Contract;
  until: string;
  /** --connect-only: nothing was sent or read (send, reply and close are skipped). */
  connectOnly: boolean;
  /** Start to end of reply (connect, send, reply), in ms; null without a reply. With connectOnly: the connect time. */
  responseMs: number | null;
  path: PathInfo | null;
  listener: ListenerInfo | null;
  exchange: ExchangeRecord | null;
  /** How many probes were made (more than 1 with `wait`). */
  attempts: number;
  /** From the first attempt's start to the report, in ms. */
  elapsedMs: number;
  /** The wait settings when `wait` was given; gaveUp: the deadline passed without a healthy attempt. */
  wait: { ms: number; intervalMs: number; gaveUp: boolean } | null;
}
