/**
 * udsctl's internals, as 'udsctl/unstable': the serve engines and taps one by
 * one, the socket-level helpers, the probe's tables and ls's raw dumps. The
 * commands use them; they may change in any release (the stable API, in
 * 'udsctl' (src/index.ts), is the operations, the framers and the types).
 */
export { describeTarget, UNIX_PATH_MAX } from './core/socket/target.js';
export { MAX_DURATION_MS } from './core/duration.js';
export { findReplyEnd } from './core/framing/end-rule.js';
export { openConnection, type ConnectOptions } from './core/socket/connect.js';
export { inspectSocketFile, removeSocketFile, type SocketFileState } from './core/socket/socket-file.js';
export { socketTypeFromProc } from './core/socket/socket-type.js';
export { peerCredOf, namedPeer } from './core/socket/peer.js';

// serve's engines (start.ts's createServe chooses among them from the engines table).
export { chooseEngine, isServeWorker } from './core/serve/start.js';
export { enginesFor, rowUnsupported, engineSupportLines } from './core/serve/engines.js';
export { CONN_ENDS } from './core/serve/protocol.js';
export { startServer, UdsServer } from './core/serve/engine-net.js';
export { TapServer, TAP_DEFAULTS, type TapOptions } from './core/serve/tap.js';
export { TRAFFIC_PREVIEW } from './core/serve/tap-records.js';
export { EpollServer, startEpollServer, epollUnsupported, type EpollServeOptions } from './core/serve/epoll/server.js';
export type { ThreadLogSpec } from './core/serve/epoll/shared.js';
export type { ConnectionRenderer, LogRenderers } from './core/serve/epoll/thread-log.js';
export type { LineWriter } from './core/line-writer.js';
export { MessageServer, type MessageServeOptions } from './core/serve/message-server.js';
export { MessageTap, startMessageTap, MESSAGE_TAP_FAULTS, MESSAGE_TAP_DEFAULTS, type MessageTapOptions } from './core/serve/message-tap.js';
export { tapSocketType, upstreamSocketType } from './core/serve/tap-type.js';

// bench's and probe's tables.
export { BENCH_ENGINES } from './core/bench/types.js';
export { BENCH_DEFAULTS } from './core/bench/options.js';
export { CHECKS, CONTRACTS, DEFAULT_PROBE_PAYLOAD, PROBE_DEFAULTS, findingInfo, worstSeverity } from './core/probe.js';

// The socket tables ls and probe read.
export { inspectPath, type PathInfo, type PathAccess, type FileFacts } from './core/socket/path-access.js';
export { currentIdentity, type Identity } from './core/socket/identity.js';
export { readProcNetUnix, parseProcNetUnix, listenersFor, type UnixSocketEntry, readServerSockets, type ServerSocket } from './core/socket/server-sockets.js';
export { findSocketOwners, type ProcessInfo } from './core/socket/processes.js';
export { SocketWatcher, type WatchFrame, type WatchRow } from './core/ls/watch.js';
export { dumpUnixSockets, dumpTcpSockets, UnixSockTable, SockDiagUnavailable } from './core/socket/sock-diag.js';
export { CrlfLines } from './core/session.js';
export { discardTypedInput } from './core/terminal.js';
