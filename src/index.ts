/**
 * udsctl as a library: the same core the commands use.
 *
 *   import { exchange, startServe } from 'udsctl';
 *   const rec = await exchange('/tmp/odc_ws.sock', { payload: Buffer.from('hi') });
 */
export { UdsError, isUdsError, ERROR_CODES, type ErrorCode } from './core/errors.js';
export { parseTarget, describeTarget, UNIX_PATH_MAX, type Target } from './core/socket/target.js';
export { parseDuration, formatDuration, MAX_DURATION_MS } from './core/duration.js';
export { parseEndRule, formatEndRule, findReplyEnd, type EndRule } from './core/framing/end-rule.js';
export { createFramer, createSlotFramer, FRAME_ERROR, NEED_MORE, type Framer, type SlotFramer } from './core/framing/index.js';
export { buildHttpRequest, decodeHttpResponse, type HttpRequestSpec, type HttpResponseView } from './core/framing/http-message.js';
export { encodeRespCommand, splitCommand } from './core/framing/resp-command.js';
export { formatRespReply } from './core/framing/resp-render.js';
export { buildFastcgiRequest, decodeFastcgiReply, FastcgiFramer, type FastcgiRequestSpec, type FastcgiReplyView } from './core/framing/fastcgi.js';
export { unescapeText, parseHex, parseMessage, escapeText, type EscapeOptions } from './core/escape.js';
export { openConnection, type ConnectOptions } from './core/socket/connect.js';
export {
  exchange,
  DEFAULT_MAX_REPLY,
  type PayloadSource,
  type ExchangeOptions,
  type ExchangeRecord,
  type ExchangeEnd,
  type ExchangeTimings,
} from './core/exchange.js';
export { startServe, createServe, chooseEngine, type StartServeOptions } from './core/serve/start.js';
export { startServer, UdsServer } from './core/serve/engine-net.js';
export { TapServer, TAP_DEFAULTS, type TapOptions, type TapConnectionLog } from './core/serve/tap.js';
export { TRAFFIC_PREVIEW, type TrafficLog, type SideEnd } from './core/serve/tap-records.js';
export {
  defaultReply,
  CONN_ENDS,
  type ConnEnd,
  type Server,
  type EngineName,
  type ServeOptions,
  type ConnectionLog,
  type RequestLog,
} from './core/serve/protocol.js';
export { FAULTS, FAULT_HELP, READ_MODES, SERVE_ENGINES, type Fault, type ServeEngine } from './core/serve/options.js';
export { inspectSocketFile, removeSocketFile, type SocketFileState } from './core/socket/socket-file.js';
export { EpollServer, startEpollServer, epollUnsupported, type EpollServeOptions } from './core/serve/epoll/server.js';
export type { ThreadLogSpec } from './core/serve/epoll/shared.js';
export type { ConnectionRenderer, LogRenderers } from './core/serve/epoll/thread-log.js';
export type { LineWriter } from './core/line-writer.js';

export {
  BENCH_MODES,
  BENCH_ENGINES,
  BENCH_SCHEMA,
  type BenchOptions,
  type BenchResult,
  type BenchTick,
  type BenchProgress,
  type BenchStartInfo,
  type BenchMode,
  type BenchEngine,
  type LatencySummary,
  type TimelineEntry,
  type DistributionBucket,
  type BenchErrorCount,
} from './core/bench/types.js';
export { BENCH_DEFAULTS } from './core/bench/options.js';

/**
 * Load a server and measure it (`udsctl bench` as a function). Its modules
 * (worker threads, histograms) load on first call, not on import.
 */
export async function runBench(opts?: import('./core/bench/types.js').BenchOptions): Promise<import('./core/bench/types.js').BenchResult> {
  const { runBench: run } = await import('./core/bench/run.js');
  return run(opts);
}

import { exchange, type ExchangeOptions, type ExchangeRecord } from './core/exchange.js';
import { UdsError as SendError } from './core/errors.js';

/** Send a message and read the reply: exchange() with a string or Buffer payload. */
export async function send(target: string, message: string | Buffer, opts: Omit<ExchangeOptions, 'payload'> = {}): Promise<ExchangeRecord> {
  if (typeof message !== 'string' && !(message instanceof Uint8Array)) {
    throw new SendError('BAD_OPTION', `message must be a string or a Buffer (got ${message === null ? 'null' : typeof message})`);
  }
  return exchange(target, { ...opts, payload: typeof message === 'string' ? Buffer.from(message) : (message as Buffer) });
}

/** Many targets, each with its own options, at most `concurrency` at once (probe's suite file). */
export { probeSuite, type ProbeJob } from './core/probe/suite.js';
/** Probe reports in the OpenMetrics text format (probe --format openmetrics). */
export { probeOpenMetrics } from './render/probe-openmetrics.js';
export {
  probe,
  probeAll,
  FINDINGS,
  SEVERITIES,
  SEVERITY_EXIT,
  CHECKS,
  CONTRACTS,
  DEFAULT_PROBE_PAYLOAD,
  PROBE_DEFAULTS,
  findingInfo,
  worstSeverity,
  type ProbeOptions,
  type ProbeReport,
  type Finding,
  type FindingCode,
  type FindingInfo,
  type Check,
  type CheckName,
  type CheckStatus,
  type Contract,
  type Severity,
  type ListenerInfo,
} from './core/probe.js';
export { inspectPath, type PathInfo, type PathAccess, type FileFacts } from './core/socket/path-access.js';
export { currentIdentity, type Identity } from './core/socket/identity.js';
export { readProcNetUnix, parseProcNetUnix, listenersFor, type UnixSocketEntry, readServerSockets, type ServerSocket } from './core/socket/server-sockets.js';
export { findSocketOwners, type ProcessInfo } from './core/socket/processes.js';
// udsctl ls: the machine's listening sockets (sock_diag, names as bytes), and the raw dump.
export { listSockets, type LsEntry, type LsOptions, type LsReport } from './core/ls/list.js';
export { SocketWatcher, type WatchFrame, type WatchRow } from './core/ls/watch.js';
export { dumpUnixSockets, dumpTcpSockets, UnixSockTable, SockDiagUnavailable } from './core/socket/sock-diag.js';

// The interactive session (send --interactive): events in and out; the caller owns the terminal.
export {
  startSession,
  CrlfLines,
  type SessionOptions,
  type SessionHandle,
  type SessionRecord,
  type SessionEvent,
  type SessionEnd,
  type ReplyTiming,
} from './core/session.js';
export { discardTypedInput } from './core/terminal.js';
// Socket types (issue 12): the type of a Unix socket, the message-socket server, who is on the other end.
export { SOCKET_TYPES, parseSocketType, socketTypeFromProc, type SocketType, type SocketTypeSource } from './core/socket/socket-type.js';
export { MessageServer, type MessageServeOptions, type MessageLog, type MessageConnLog } from './core/serve/message-server.js';
export { peerCredOf, namedPeer, type PeerCred, type NamedPeer } from './core/socket/peer.js';
// The tap on dgram and seqpacket upstreams (serve --upstream): startServe's tap relays stream sockets.
export {
  MessageTap,
  startMessageTap,
  MESSAGE_TAP_FAULTS,
  MESSAGE_TAP_DEFAULTS,
  type MessageTapOptions,
  type MessageTapTraffic,
  type MessageTapPeerLog,
} from './core/serve/message-tap.js';
export { tapSocketType, upstreamSocketType } from './core/serve/tap-type.js';
