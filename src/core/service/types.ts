/**
 * A service udsctl knows (issue 20): one module per protocol, listed in one
 * table (index.ts), as curl's Curl_handler table and nmap's service probes.
 * probe, send, bench and ls look services up there and never ask "is this
 * PostgreSQL?": whatever differs between services is data and hooks here.
 *
 * HOW TO ADD A SERVICE (one file and one line):
 *   1. src/core/service/<name>.ts exports `const <name>: Service = { ... }`:
 *      - `recognise`: process names, paths, a banner or a reply to udsctl's
 *        default line; plain data (RegExps) wherever it can be, so `udsctl ls`
 *        recognises without I/O (recogniseWithoutIo in index.ts).
 *      - `check`: either `request` (one request, its end rule, a judge of the
 *        complete reply; connect/timeout/reset/close failures are judged for
 *        you, generically) or `dialogue` (several steps on one connection,
 *        through a Conversation: PostgreSQL's startup packet, D-Bus SASL; or
 *        conv.socket() handed to a library: node:http2 for gRPC).
 *      - `findings`: the service's failure codes (PG_STARTING, REDIS_LOADING),
 *        each with severity, title, cause and fix. They join probe's findings
 *        table by themselves; add the same rows to the README and man page
 *        tables (test/docs.test.ts checks them against the table).
 *      - `replyEnd` (send: where a reply ends when --until is not given) and
 *        `benchRequest` (what bench sends by default), where they make sense.
 *   2. Add it to SERVICES in index.ts. The order is the precedence when two
 *      services' recognisers match the same evidence.
 *   3. Test against the real daemon, healthy and (where it can be) unhealthy.
 *
 * Rules:
 * - SAFE: nothing a check sends may change the service's state: pings,
 *   version/info requests, handshakes abandoned before login. Nothing that
 *   runs an application either, unless the user named the path.
 * - BOUNDED: every read goes through a Conversation or the request form (they
 *   hold the deadline and the size bound); never a bare read on a socket.
 * - Text from the peer goes raw into `summary` and `details`: the renderers
 *   escape it for a terminal, JSON keeps it exact.
 */
import type { ExchangeRecord } from '../exchange-record.js';
import type { EndRule } from '../framing/end-rule.js';
import type { Severity } from '../probe/findings.js';
import type { SocketType } from '../socket/socket-type.js';
import type { Target } from '../socket/target.js';
import type net from 'node:net';
import type { KnownSocket } from './known-sockets.js';

/** How a service was recognised, strongest first: this is also the order recognition tries them in. */
export const RECOGNISED_BY = ['flag', 'process', 'path', 'socket-type', 'banner', 'reply', 'port'] as const;
export type RecognisedBy = (typeof RECOGNISED_BY)[number];

/** What the listening process is, as /proc says (any field may be empty when not visible). */
export interface ProcessFacts {
  pid?: number;
  /** /proc/PID/comm. */
  name: string;
  /** The command line, words joined by spaces. */
  cmdline: string;
  /** /proc/PID/exe's target, when readable. */
  exe?: string;
}

/**
 * How a service is recognised. All optional; a service with none is only ever
 * chosen by name (`--as NAME`).
 */
export interface Recognisers {
  /**
   * Matched against each of: the process's comm, the basename of argv[0], the
   * basename of argv[1] (interpreters: `python3 /usr/bin/gunicorn`), and the
   * basename of exe. Anchor it (`^memcached$`): comm is cut to 15 characters.
   */
  process?: RegExp;
  /** Matched against the whole command line (e.g. `uwsgi .* --http-socket`). Checked before `process`. */
  cmdline?: RegExp;
  /** Matched against the socket's absolute path (`/\.s\.PGSQL\.\d+$/`). */
  path?: RegExp;
  /** The socket is the path in this environment variable (ssh-agent: SSH_AUTH_SOCK). */
  env?: string;
  /** Every socket of this type is this service, unless something stronger said otherwise (dgram: listen-only). */
  socketType?: SocketType;
  /** Bytes the server sends on its own right after accepting (MySQL's greeting). At most 4 KiB are shown. */
  banner?(first: Buffer): boolean;
  /** The server's reply to udsctl's default line (`udsctl-probe\n`) shows it speaks this protocol ("HTTP/1.0 400"). */
  reply?(reply: Buffer): boolean;
}

/** What a check knows about its target and its bounds. */
export interface CheckContext {
  target: Target;
  /** The target as shown (start details with it). */
  display: string;
  /**
   * The argument the user gave with `--as NAME:ARG` (the service declares it: Service.arg).
   * Undefined: the service's own health request.
   */
  arg?: string;
  /** Bound on the whole reply (from connected); the Conversation enforces it. */
  timeout: number;
  connectTimeout: number;
  /** Bytes of one reply kept. */
  maxReply: number;
  /** Our ids (D-Bus AUTH EXTERNAL sends the uid). */
  uid: number;
  gid: number;
  signal?: AbortSignal;
}

/** A complete reply, as the request form's end rule or a Conversation's read framed it. */
export interface ServiceReply {
  /** The reply's bytes up to its end (at most maxReply kept). */
  bytes: Buffer;
  /** The framer's status (HTTP status, CGI Status:), 0 when the protocol has none. */
  status: number;
  /** The framer read the protocol's error reply (RESP `-ERR`). */
  failed: boolean;
  /** More bytes than maxReply came: `bytes` is the start. */
  truncated: boolean;
}

/**
 * The judgement of a complete reply (or dialogue). `code` is 'OK' or one of the
 * service's `findings`; the severity defaults to that row's.
 */
export interface Verdict {
  code: string;
  severity?: Severity;
  /** One line: what was seen ("memcached 1.6.18 answered version", "starting up"). */
  summary: string;
  /** Facts for the report and --json (version, keys, pool size, ...). */
  details?: Record<string, string | number | boolean>;
  /** A fix more specific than the table's. */
  fix?: string;
}

/**
 * One connection, step by step, every read bounded by the check's deadline and
 * maxReply. A read that cannot complete throws a UdsError (REPLY_TIMEOUT,
 * CLOSED_EARLY, RESET, BAD_FRAME): probe then judges it as for any exchange
 * (SILENT, CLOSED_WITHOUT_REPLY, ...), so a dialogue only handles replies.
 */
export interface Conversation {
  write(bytes: Buffer): Promise<void>;
  /** Read one reply, framed by `until` (bytes after it are kept for the next read). */
  read(until: EndRule): Promise<ServiceReply>;
  /** write, then read. */
  ask(bytes: Buffer, until: EndRule): Promise<ServiceReply>;
  /**
   * The connected socket, for a library that speaks the protocol itself
   * (node:http2's createConnection). The deadline still closes it; read and
   * write are not to be used after.
   */
  socket(): net.Socket;
  /** Milliseconds left before the deadline. */
  remaining(): number;
}

export type HealthCheck =
  /** One request, one reply framed by `until`, judged. */
  | {
      kind: 'request';
      request(ctx: CheckContext): Buffer;
      until(ctx: CheckContext): EndRule;
      judge(reply: ServiceReply, ctx: CheckContext): Verdict;
    }
  /** Several steps on one connection. */
  | { kind: 'dialogue'; run(conv: Conversation, ctx: CheckContext): Promise<Verdict> }
  /** Connect, then close: nothing sent (sd_notify, journald: a datagram would land in their log). */
  | { kind: 'connect' }
  /** The seed's contract: udsctl's line, a line back, the server closes (probe's own checks, every flag honoured). */
  | { kind: 'line' };

/** A service's failure code and what to do about it (a row of probe's findings table). */
export interface ServiceFinding {
  /** Stable, service-specific: PG_STARTING, REDIS_LOADING, FPM_QUEUE_FULL. */
  code: string;
  severity: Severity;
  /** A few words: the verdict. */
  title: string;
  /** One line: why this happens. */
  cause: string;
  /** One line: what to do. */
  fix: string;
}

export interface Service {
  /** The `--as` name and the --json `service`: lower case, stable. */
  name: string;
  /** For people: 'PostgreSQL', 'php-fpm (FastCGI)'. */
  title: string;
  /** The socket types it listens on (recognition by process or path skips a socket of another type). */
  socketTypes: readonly SocketType[];
  recognise: Recognisers;
  check: HealthCheck;
  findings: readonly ServiceFinding[];
  /**
   * The check's connection or read failed (the record's error: BACKLOG_FULL, REPLY_TIMEOUT,
   * CLOSED_EARLY, RESET): a verdict when this service names that failure in its own terms
   * (php-fpm silent = every child busy, FPM_QUEUE_FULL); null leaves probe's generic finding.
   */
  nameFailure?(record: ExchangeRecord, ctx: CheckContext): Verdict | null;
  /**
   * The argument its check takes (`--as NAME:ARG`, ctx.arg), or none: then
   * `--as NAME:ARG` is a usage error. Shown in --help and docs/probe.md.
   */
  arg?: ServiceArg;
  /** How to ask for this check by hand, for advice ("probe with --fastcgi /ping"): defaults to `--as NAME`. */
  flag?: string;
  /** send: where a reply ends when --until is not given. */
  replyEnd?: EndRule;
  /** bench: the request sent when none is given, and its reply's end. */
  /** `payload` may be a getter: made when bench asks, not when every command loads. */
  benchRequest?: { readonly payload: Buffer; until: EndRule; describe: string };
}

/** What a service's argument is: `--as grpc:SERVICE`. */
export interface ServiceArg {
  /** Its placeholder in help, upper case: PATH, USER, SERVICE. */
  name: string;
  /** One short line: what it is and its default ("the user in the startup message (default postgres)"). */
  means: string;
}

/** A recognised service and the evidence. */
export interface Recognition {
  /** The service whose check probes it (`line`, the fallback, for a known socket with no check of its own). */
  service: Service;
  /** What the socket is, when a row of KNOWN_SOCKETS (known-sockets.ts) matched: Docker's API, gpg-agent. */
  known?: KnownSocket;
  by: RecognisedBy;
  /** One line: what showed it ("pid 812 (memcached)", "path matches *php*fpm*.sock"). */
  evidence: string;
}
