/**
 * gRPC over cleartext HTTP/2 (h2c): the standard health service,
 * grpc.health.v1.Health/Check, as grpc_health_probe calls it. node:http2
 * speaks HTTP/2 on the connected socket; the two messages are encoded by hand
 * (HealthCheckRequest is one string field, HealthCheckResponse one enum
 * field: two varint-keyed fields do not earn a protobuf library). The service
 * name is empty (the server as a whole) unless given: `--as grpc:NAME`.
 *
 * SERVING is healthy; NOT_SERVING, an unknown service (NOT_FOUND) and a
 * server without the health service (UNIMPLEMENTED) are each named. A Check
 * reads state and changes none.
 */
// node:http2 is loaded by the check only (it costs ~17 ms of every command's start otherwise).
import type { IncomingHttpHeaders } from 'node:http2';
import { importEsm } from '../../import-esm.js';
import { UdsError } from '../errors.js';
import type { CheckContext, Conversation, Service, Verdict } from './types.js';

export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';

/** grpc.health.v1.HealthCheckResponse.ServingStatus. */
const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;

/** gRPC status codes (grpc/doc/statuscodes.md). */
const GRPC_CODES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** HealthCheckRequest { string service = 1; } in a gRPC message frame (uncompressed flag, 4-byte length). */
export function healthCheckRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  const msg = name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, ...varint(name.length)]), name]);
  const frame = Buffer.alloc(5 + msg.length);
  frame.writeUInt32BE(msg.length, 1);
  msg.copy(frame, 5);
  return frame;
}

/** HealthCheckResponse { ServingStatus status = 1; } from a message body: the status number (0 when absent, as proto3). */
export function parseHealthResponse(msg: Buffer): number {
  let i = 0;
  let status = 0;
  const readVarint = (): number => {
    let v = 0;
    let mul = 1;
    for (let k = 0; k < 10 && i < msg.length; k++) {
      const b = msg[i++];
      v += (b & 0x7f) * mul;
      mul *= 128;
      if (!(b & 0x80)) return v;
    }
    throw new Error('a varint cut short');
  };
  while (i < msg.length) {
    const key = readVarint();
    const wire = key & 7;
    if (wire === 0) {
      const v = readVarint();
      if (key >>> 3 === 1) status = v;
    } else if (wire === 2) {
      // Not `i += readVarint()`: that adds to the i read before the varint moved it.
      const n = readVarint();
      i += n;
    } else if (wire === 5) i += 4;
    else if (wire === 1) i += 8;
    else throw new Error(`wire type ${wire}`);
  }
  return status;
}

/** What the call produced: the response headers, trailers (absent for a trailers-only answer), the body. */
interface CallResult {
  headers: IncomingHttpHeaders;
  trailers?: IncomingHttpHeaders;
  body: Buffer;
}

const codeName = (n: number) => GRPC_CODES[n] ?? `code ${n}`;

/** Judge a finished Health/Check call. */
export function judgeCall(r: CallResult, service: string): Verdict {
  const what = service ? `service ${JSON.stringify(service)}` : 'the server';
  const status = Number(r.headers[':status']);
  const grpcStatusText = r.trailers?.['grpc-status'] ?? r.headers['grpc-status'];
  const rawMessage = String(r.trailers?.['grpc-message'] ?? r.headers['grpc-message'] ?? '');
  let message = rawMessage;
  try {
    message = decodeURIComponent(rawMessage);
  } catch {
    // not percent-encoded as the spec says: shown as sent
  }
  if (status !== 200 || grpcStatusText === undefined) {
    return {
      code: 'GRPC_NOT_GRPC',
      summary: `an HTTP/2 server that did not answer as gRPC (HTTP ${status}${r.headers['content-type'] ? `, ${r.headers['content-type']}` : ''}, no grpc-status)`,
      details: { httpStatus: status },
    };
  }
  const grpcStatus = Number(grpcStatusText);
  const details: Record<string, string | number> = { ...(service ? { service } : {}), grpcStatus: codeName(grpcStatus) };
  if (message) details.grpcMessage = message;
  const said = message ? `: ${message}` : '';
  if (grpcStatus === 12) return { code: 'GRPC_NO_HEALTH_SERVICE', summary: `a gRPC server without the health service (UNIMPLEMENTED${said})`, details };
  if (grpcStatus === 5) return { code: 'GRPC_SERVICE_UNKNOWN', summary: `the health service does not know ${what} (NOT_FOUND${said})`, details: { ...details, health: 'SERVICE_UNKNOWN' } };
  if (grpcStatus !== 0) return { code: 'GRPC_ERROR', summary: `Health/Check failed with ${codeName(grpcStatus)}${said}`, details };
  if (r.body.length < 5) return { code: 'GRPC_ERROR', summary: 'Health/Check returned OK without a response message', details };
  if (r.body[0] !== 0) return { code: 'GRPC_ERROR', summary: 'Health/Check answered a compressed message, which was not asked for', details };
  const len = r.body.readUInt32BE(1);
  let health: number;
  try {
    health = parseHealthResponse(r.body.subarray(5, 5 + len));
  } catch (e) {
    return { code: 'GRPC_ERROR', summary: `Health/Check answered a message that is not a HealthCheckResponse (${(e as Error).message})`, details };
  }
  const name = SERVING_STATUS[health] ?? `status ${health}`;
  details.health = name;
  if (health === 1) return { code: 'OK', summary: `${what} is SERVING (grpc.health.v1)`, details };
  if (health === 2) return { code: 'GRPC_NOT_SERVING', summary: `${what} is NOT_SERVING (grpc.health.v1)`, details };
  if (health === 3) return { code: 'GRPC_SERVICE_UNKNOWN', summary: `the health service does not know ${what} (SERVICE_UNKNOWN)`, details };
  return { code: 'GRPC_STATUS_UNKNOWN', summary: `${what} reports ${name} (grpc.health.v1)`, details };
}

/** Make the call on the conversation's socket with node:http2, bounded by the check's deadline and maxReply. */
async function call(conv: Conversation, ctx: CheckContext, service: string): Promise<CallResult> {
  const http2 = await importEsm<typeof import('node:http2')>('node:http2');
  const sock = conv.socket();
  const left = conv.remaining();
  return new Promise<CallResult>((resolve, reject) => {
    let settled = false;
    let headers: IncomingHttpHeaders | undefined;
    let trailers: IncomingHttpHeaders | undefined;
    const parts: Buffer[] = [];
    let got = 0;
    const session = http2.connect('http://localhost', {
      createConnection: () => sock,
      settings: { enablePush: false, maxHeaderListSize: 64 * 1024 },
      maxSessionMemory: 2,
      maxHeaderListPairs: 64,
    });
    const finish = (err: UdsError | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      if (err) reject(err);
      else resolve({ headers: headers!, trailers, body: Buffer.concat(parts) });
    };
    const timer = setTimeout(
      () => finish(new UdsError('REPLY_TIMEOUT', `${ctx.display}: no complete Health/Check answer within ${ctx.timeout}ms`, { target: ctx.display, timeoutMs: ctx.timeout })),
      left,
    );
    const failure = (e: Error & { code?: string }) => {
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') return new UdsError('RESET', `${ctx.display}: connection reset by the server`, { target: ctx.display, cause: e });
      return new UdsError('BAD_FRAME', `${ctx.display}: not an HTTP/2 (h2c) server: ${e.message}`, { target: ctx.display, cause: e });
    };
    session.on('error', (e) => finish(failure(e)));
    session.on('close', () => finish(new UdsError('CLOSED_EARLY', `${ctx.display}: the server closed the HTTP/2 connection before answering Health/Check`, { target: ctx.display })));
    const req = session.request({
      ':method': 'POST',
      ':path': HEALTH_CHECK_PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': `${Math.max(1, Math.floor(left))}m`,
      'user-agent': 'udsctl-probe',
    });
    req.on('response', (h) => (headers = h));
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (got > ctx.maxReply) return finish(new UdsError('BAD_FRAME', `${ctx.display}: a Health/Check answer longer than ${ctx.maxReply} bytes`, { target: ctx.display }));
      parts.push(chunk);
    });
    req.on('error', (e) => finish(failure(e)));
    req.on('close', () => {
      if (headers) return finish(null);
      const code = req.rstCode;
      finish(new UdsError('CLOSED_EARLY', `${ctx.display}: the server ended the Health/Check stream without an answer${code ? ` (RST_STREAM ${code})` : ''}`, { target: ctx.display }));
    });
    req.end(healthCheckRequest(service));
  });
}

async function check(conv: Conversation, ctx: CheckContext): Promise<Verdict> {
  const service = ctx.arg ?? '';
  return judgeCall(await call(conv, ctx, service), service);
}

/** An HTTP/2 server's preface: a SETTINGS frame (type 4, stream 0, no flags) that a server sends first, whatever the client sent. */
export function looksLikeH2Settings(b: Buffer): boolean {
  if (b.length < 9) return false;
  const len = (b[0] << 16) | (b[1] << 8) | b[2];
  return b[3] === 0x04 && b[4] === 0 && b.readUInt32BE(5) === 0 && len % 6 === 0 && len <= 6 * 16;
}

export const grpc: Service = {
  name: 'grpc',
  title: 'gRPC (h2c)',
  socketTypes: ['stream'],
  recognise: {
    // containerd.sock is a row of known-sockets.ts that speaks grpc.
    path: /\/[^/]*grpc[^/]*\.sock$/,
    // Many HTTP/2 servers (Go's, grpc-core's) send their SETTINGS on accept, before any request;
    // the others send it in reply to udsctl's line, before they close on a bad preface.
    banner: looksLikeH2Settings,
    reply: looksLikeH2Settings,
  },
  check: { kind: 'dialogue', run: check },
  arg: { name: 'SERVICE', means: 'the service name Health/Check asks about (default: empty, the whole server)' },
  findings: [
    {
      code: 'GRPC_NOT_SERVING',
      severity: 'CRITICAL',
      title: 'gRPC health: NOT_SERVING',
      cause: 'grpc.health.v1.Health/Check answered NOT_SERVING: the server (or the named service) says it cannot serve now',
      fix: "read the server's log for why it set NOT_SERVING (a dependency down, draining before shutdown)",
    },
    {
      code: 'GRPC_SERVICE_UNKNOWN',
      severity: 'CRITICAL',
      title: 'gRPC health: unknown service',
      cause: 'the health service answered NOT_FOUND (or SERVICE_UNKNOWN): it has no status for the service name asked',
      fix: 'ask for a service name the server registers with its health service (--as grpc:NAME), or the empty name for the whole server',
    },
    {
      code: 'GRPC_NO_HEALTH_SERVICE',
      severity: 'WARNING',
      title: 'gRPC server without the health service',
      cause: 'Health/Check answered UNIMPLEMENTED: the server speaks gRPC but never registered grpc.health.v1.Health',
      fix: 'register the standard health service in the server (grpc-health-checking); until then only its liveness is known',
    },
    {
      code: 'GRPC_STATUS_UNKNOWN',
      severity: 'WARNING',
      title: 'gRPC health: UNKNOWN',
      cause: 'Health/Check answered status UNKNOWN: the server has not decided yet (often while starting)',
      fix: 'probe again after start-up; if it stays UNKNOWN, the server never sets its health status',
    },
    {
      code: 'GRPC_ERROR',
      severity: 'CRITICAL',
      title: 'gRPC health check failed',
      cause: 'Health/Check ended with a gRPC error status (UNAVAILABLE, INTERNAL, PERMISSION_DENIED, ...) or a malformed answer',
      fix: "read the status and message shown, and the server's log",
    },
    {
      code: 'GRPC_NOT_GRPC',
      severity: 'CRITICAL',
      title: 'HTTP/2, but not gRPC',
      cause: 'the server answered the HTTP/2 request without a grpc-status: an HTTP/2 server that is not gRPC, or a proxy in front of it',
      fix: 'check that the socket belongs to the gRPC server, or probe it as HTTP',
    },
  ],
};
