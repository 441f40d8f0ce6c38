/**
 * udsctl as a library: the same core the commands use. This entry is the
 * stable API: the operations (exchange and send, probe, serve, bench, ls,
 * the interactive session), the framers and the types of their options and
 * records. The engines and the socket-level parts behind them are in
 * 'udsctl/unstable' (src/unstable.ts), which may change in any release.
 *
 *   import { exchange, startServe } from 'udsctl';
 *   const rec = await exchange('/tmp/odc_ws.sock', { payload: Buffer.from('hi') });
 */
export { UdsError, isUdsError, ERROR_CODES, type ErrorCode } from './core/errors.js';
export { parseTarget, type Target } from './core/socket/target.js';
export { parseDuration, formatDuration } from './core/duration.js';
export { SOCKET_TYPES, parseSocketType, type SocketType, type SocketTypeSource } from './core/socket/socket-type.js';
export { unescapeText, parseHex, parseMessage, escapeText, type EscapeOptions } from './core/escape.js';

// The framers: where a reply (or request) ends, and the protocols' requests and replies.
export { parseEndRule, formatEndRule, type EndRule } from './core/framing/end-rule.js';
export { createFramer, createSlotFramer, FRAME_ERROR, NEED_MORE, type Framer, type SlotFramer } from './core/framing/index.js';
export { buildHttpRequest, decodeHttpResponse, type HttpRequestSpec, type HttpResponseView } from './core/framing/http-message.js';
export { encodeRespCommand, splitCommand } from './core/framing/resp-command.js';
export { formatRespReply } from './core/framing/resp-render.js';
export { buildFastcgiRequest, decodeFastcgiReply, FastcgiFramer, type FastcgiRequestSpec, type FastcgiReplyView } from './core/framing/fastcgi.js';

// exchange (udsctl send) and the interactive session (send --interactive: events in and out; the caller owns the terminal).
export {
  exchange,
  DEFAULT_MAX_REPLY,
  type PayloadSource,
  type ExchangeOptions,
  type ExchangeRecord,
  type ExchangeEnd,
  type ExchangeTimings,
} from './core/exchange.js';
export {
  startSession,
  type SessionOptions,
  type SessionHandle,
  type SessionRecord,
  type SessionEvent,
  type SessionEnd,
  type ReplyTiming,
} from './core/session.js';

// serve: one createServe for every engine and socket type (the engines table says which serves what).
export { startServe, createServe, type StartServeOptions } from './core/serve/start.js';
export { ENGINES, type EngineRow, type EngineKind, type ServeRole, type EngineOption } from './core/serve/engines.js';
export {
  defaultReply,
  type ConnEnd,
  type Server,
  type ServerEvents,
  type EngineName,
  type ServeOptions,
  type ConnectionLog,
  type RequestLog,
} from './core/serve/protocol.js';
export type { TrafficLog, SideEnd } from './core/serve/tap-records.js';
export type { TapConnectionLog } from './core/serve/tap-connection.js';
export type { MessageLog, MessageConnLog } from './core/serve/message-server.js';
export type { MessageTapTraffic, MessageTapPeerLog } from './core/serve/message-tap-records.js';
export { FAULTS, FAULT_HELP, READ_MODES, SERVE_ENGINES, type Fault, type ReadMode, type ServeEngine } from './core/serve/options.js';

// bench.
export {
  BENCH_MODES,
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

// probe.
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

// ls: the machine's listening sockets (sock_diag, names as bytes).
export { listSockets, type LsEntry, type LsOptions, type LsReport } from './core/ls/list.js';
export type { NamedPeer, PeerCred } from './core/socket/peer.js';
