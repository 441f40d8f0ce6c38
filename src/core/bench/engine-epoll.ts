/**
 * The epoll engine: one worker thread drives its share of the connections
 * with non-blocking sockets and one epoll set through libc, in a loop that
 * blocks in epoll_wait (bounded: never more than 100 ms, so the stop word is
 * seen). Per-connection state lives in typed arrays indexed by slot; a request
 * costs a send, a read and its share of an epoll_wait, records one histogram
 * value and allocates nothing.
 *
 * Slots: oneshot, a slot is one request in flight on its own connection;
 * persistent, a slot is a connection carrying up to `pipeline` requests.
 */
import { decodeKeepingBytes } from '../escape.js';
import { performance } from 'node:perf_hooks';
import { UdsError, type ErrorCode } from '../errors.js';
import { ReplyFramer, ContainsCheck } from './framer.js';
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  E,
  EPOLLIN,
  EPOLLOUT,
  EPOLLERR,
  EPOLLET,
  EPOLLHUP,
  EPOLLRDHUP,
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EPOLL_CTL_MOD,
  EPOLL_DATA_OFFSET,
  EPOLL_EVENT_SIZE,
  IPPROTO_TCP,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  SHUT_WR,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
  SO_ERROR,
  TCP_NODELAY,
} from '../ffi.js';
import { type Sys, loadSys } from './syscalls.js';
import {
  ABORT,
  CTL_CLAIMED,
  CTL_STOP,
  NO_REPLY,
  PARTIAL_REPLY,
  RUN,
  type WorkerConfig,
  type WorkerMessage,
  WorkerStats,
  type WorkerTarget,
  describeError,
} from './worker-stats.js';

// Slot states.
const FREE = 0; // oneshot: no request; persistent: no connection and none wanted
const BACKOFF = 1; // waiting until retryAt to connect (again)
const CONNECTING = 2; // TCP connect in progress
const OPEN = 3; // connected
const DONE = 4;

const MAX_EVENTS = 512;
const RBUF = 64 * 1024;
/** After a failed connect, a slot waits this long before the next attempt, so a dead server is not spun on. */
const ERROR_PAUSE_MS = 1;
const BACKLOG_MIN_MS = 0.05;
const BACKLOG_MAX_MS = 2;
const MAX_WAIT_MS = 100;
const SAMPLE = 80;
/**
 * Edge-triggered: the kernel does not re-poll every ready socket on each
 * epoll_wait. The rule that comes with it: a readable socket is read until a
 * short read (a Unix or TCP stream read returns all that is queued, up to the
 * buffer) or EAGAIN, and a write until EAGAIN, before waiting again.
 */
const IN = EPOLLIN | EPOLLRDHUP | EPOLLET;

export interface EngineIo {
  post(msg: WorkerMessage): void;
  /** Resolves with the local performance.now() time at which load starts. */
  waitGo(): Promise<number>;
}

interface Addr {
  family: number;
  addr: Uint8Array;
  len: number;
}

function sockaddr(t: WorkerTarget, sys: Sys): Addr {
  if (t.kind === 'unix' || t.kind === 'abstract') {
    const name = t.kind === 'unix' ? Buffer.from(t.path) : Buffer.from(t.name);
    const abstract = t.kind === 'abstract' ? 1 : 0;
    const addr = new Uint8Array(2 + abstract + name.length + 1);
    new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
    addr.set(name, 2 + abstract);
    // A path counts its terminating NUL; an abstract name is exactly its bytes.
    return { family: AF_UNIX, addr, len: abstract ? 3 + name.length : addr.length };
  }
  const v6 = t.family === 6;
  const addr = new Uint8Array(v6 ? 28 : 16);
  const view = new DataView(addr.buffer);
  view.setUint16(0, v6 ? AF_INET6 : AF_INET, true);
  view.setUint16(2, t.port, false);
  if (sys.inetPton(v6 ? AF_INET6 : AF_INET, t.address ?? t.host, addr.subarray(v6 ? 8 : 4)) !== 1) {
    throw new UdsError('BAD_TARGET', `${t.display}: cannot use address ${t.address ?? t.host}`);
  }
  return { family: v6 ? AF_INET6 : AF_INET, addr, len: addr.length };
}

/** Run one worker's share of the load with the epoll engine. */
export async function runEpollEngine(cfg: WorkerConfig, io: EngineIo): Promise<void> {
  const sys = loadSys();
  const { addr, len: addrLen, family } = sockaddr(cfg.target, sys);
  const tcp = family !== AF_UNIX;
  const ctl = new Int32Array(cfg.control);
  const stats = new WorkerStats(cfg);
  const S = cfg.slots;
  const K = cfg.pipeline;
  const persistent = cfg.mode === 'persistent';
  const openLoop = cfg.rate > 0;
  const until = cfg.until;
  const eofRule = until.kind === 'eof';
  const idleRule = until.kind === 'idle';
  const idleMs = until.kind === 'idle' ? until.ms : 0;
  const timeoutMs = cfg.timeoutMs;
  const connectTimeoutMs = cfg.connectTimeoutMs;
  const limit = cfg.requests;
  const halfClose = cfg.halfClose;
  const sentinel = until.kind === 'line' ? 0x0a : until.kind === 'delim' && until.delim.length === 1 ? until.delim[0] : -1;

  // The payload repeated `pipeline` times (within 64 KiB): a batch of requests is one send.
  const plen = cfg.payload.length;
  const copies = Math.max(1, Math.min(K, Math.floor(RBUF / Math.max(1, plen))));
  const payloads = Buffer.alloc(Math.max(128, plen * copies)); // 128+: off the V8 heap, so its address holds
  for (let j = 0; j < copies; j++) payloads.set(cfg.payload, j * plen);
  const payloadsLen = Math.max(1, plen * copies);
  const payloadsAt = sys.address(payloads);

  const ep = sys.epollCreate(EPOLL_CLOEXEC);
  if (ep < 0) throw new UdsError('IO_ERROR', `epoll_create1 failed (errno ${sys.errno()})`);
  const evs = new Uint8Array(EPOLL_EVENT_SIZE * MAX_EVENTS);
  const evsView = new DataView(evs.buffer);
  const ev = new Uint8Array(EPOLL_EVENT_SIZE);
  const evView = new DataView(ev.buffer);
  const rbuf = Buffer.alloc(RBUF + 1);
  const rbufAt = sys.address(rbuf);
  const optVal = new Uint8Array(4);
  const optView = new DataView(optVal.buffer);
  const optLen = new Uint8Array(4);
  const optLenView = new DataView(optLen.buffer);
  const one = new Uint8Array(new Int32Array([1]).buffer);

  const fd = new Int32Array(S).fill(-1);
  const gen = new Uint32Array(S);
  const st = new Uint8Array(S);
  const hasReq = new Uint8Array(S); // oneshot: a request owns the slot (connecting or in flight)
  const inflight = new Int32Array(S);
  const head = new Int32Array(S);
  const starts = new Float64Array(S * K); // latency origin: scheduled start (open loop) or send time
  const sentAt = new Float64Array(S * K); // timeout origin
  const connStart = new Float64Array(S);
  const connectedAt = new Float64Array(S);
  const retryAt = new Float64Array(S);
  const backoff = new Float64Array(S);
  const failures = new Int32Array(S); // persistent: reconnect attempts failed in a row
  const wPend = new Float64Array(S);
  const wPos = new Int32Array(S);
  const outArmed = new Uint8Array(S);
  const got = new Float64Array(S); // bytes of the reply being read
  const idleAt = new Float64Array(S);
  const framer = new ReplyFramer(until, S);
  // Closed loop: a slot whose request ended is queued and its next request starts once the
  // whole batch of events is handled (as the C client does), so the clock of a new request
  // never runs while this thread is busy with other connections' replies.
  const readyQ = new Int32Array(2 * S);
  const queued = new Uint8Array(S);
  const owed = new Int32Array(S); // persistent: requests to send on the connection
  let readyN = 0;
  const check = cfg.expect ? new ContainsCheck(cfg.expect, S) : null;
  // The first bytes of each reply, for the message of the first MISMATCH.
  const sampleBuf = check ? Buffer.alloc(S * SAMPLE) : null;
  const sampleLen = new Int32Array(check ? S : 0);

  let tStart = Infinity;
  let tMeasure = Infinity;
  let tEnd = Infinity;
  let measuring = false;
  let started = false; // past setup: connection losses are the run's, not fatal
  let stopping = false;
  let pending = 0; // requests started and not yet ended
  let freeUnits = 0; // open loop: requests that could start now without waiting
  let cursor = 0;
  let nextWake = Infinity; // earliest retryAt / idleAt / connect deadline set since the last scan
  let fatal: { code: ErrorCode; message: string } | null = null;
  let now = performance.now();

  const setEvents = (i: number, events: number, op: number): number => {
    evView.setUint32(0, events, true);
    evView.setUint32(EPOLL_DATA_OFFSET, i, true);
    evView.setUint32(EPOLL_DATA_OFFSET + 4, gen[i], true);
    return sys.epollCtl(ep, op, fd[i], ev);
  };

  const closeFd = (i: number): void => {
    if (fd[i] >= 0) sys.close(fd[i]); // close() also takes it out of the epoll set
    fd[i] = -1;
    outArmed[i] = 0;
    wPend[i] = 0;
    wPos[i] = 0;
  };

  const wake = (t: number): void => {
    if (t < nextWake) nextWake = t;
  };

  const enqueue = (i: number, m: number): void => {
    owed[i] += m;
    if (queued[i]) return;
    queued[i] = 1;
    readyQ[readyN++] = i;
  };

  const claim = (): boolean => {
    if (limit === 0 || !measuring) return true;
    if (Atomics.add(ctl, CTL_CLAIMED, 1) < limit) return true;
    stopping = true;
    return false;
  };

  // ---- ending requests

  /** One request ended badly; measured by its start. */
  const failOne = (t0: number, code: ErrorCode, errno: number, variant: number): void => {
    pending--;
    if (t0 >= tMeasure) stats.fail(code, errno, variant);
    else stats.warmup++;
  };

  const failInflight = (i: number, code: ErrorCode, errno: number, variant: number): void => {
    for (let n = inflight[i]; n > 0; n--) {
      failOne(starts[i * K + head[i]], code, errno, variant);
      head[i] = (head[i] + 1) % K;
    }
    inflight[i] = 0;
    head[i] = 0;
    got[i] = 0;
    if (check) {
      check.end(i);
      sampleLen[i] = 0;
    }
    framer.reset(i);
  };

  /** Put a oneshot slot back: the next request (closed loop) or a free unit (open loop). */
  const release = (i: number, pause: number): void => {
    hasReq[i] = 0;
    if (pause > 0) {
      st[i] = BACKOFF;
      retryAt[i] = now + pause;
      wake(retryAt[i]);
      return;
    }
    st[i] = FREE;
    if (stopping) st[i] = DONE;
    else if (openLoop) freeUnits++;
    else enqueue(i, 1);
  };

  /** A connection failed or was lost. */
  const lose = (i: number, code: ErrorCode, errno: number, variant: number, pause: number): void => {
    if (persistent && st[i] === OPEN && openLoop) freeUnits -= K - inflight[i];
    closeFd(i);
    if (!persistent) {
      if (hasReq[i]) failOne(starts[i * K], code, errno, variant);
      inflight[i] = 0;
      got[i] = 0;
      if (check) {
        check.end(i);
        sampleLen[i] = 0;
      }
      framer.reset(i);
      return release(i, pause);
    }
    failInflight(i, code, errno, variant);
    if (!started) {
      fatal ??= { code, message: `opening the persistent connections: ${describeError(cfg, code, errno, variant)}` };
      st[i] = DONE;
      return;
    }
    if (stopping) {
      st[i] = DONE;
      return;
    }
    st[i] = BACKOFF;
    retryAt[i] = now + pause;
    wake(retryAt[i]);
  };

  const completeOne = (i: number): void => {
    const idx = i * K + head[i];
    const t0 = starts[idx];
    head[i] = (head[i] + 1) % K;
    inflight[i]--;
    pending--;
    const matched = check === null || check.end(i);
    if (check) {
      if (!matched && t0 >= tMeasure && stats.wantsMismatchSample) stats.noteMismatch(decodeKeepingBytes(sampleBuf!, i * SAMPLE, i * SAMPLE + sampleLen[i]));
      sampleLen[i] = 0;
    }
    const empty = got[i] === 0;
    got[i] = 0;
    if (t0 >= tMeasure) {
      if (!matched) stats.fail('MISMATCH');
      else if (empty) stats.fail('CLOSED_EARLY', 0, NO_REPLY);
      else {
        stats.success(now - t0);
        if (!persistent) stats.exchanged(now - connectedAt[i]);
      }
    } else stats.warmup++;
    if (!persistent) {
      closeFd(i);
      release(i, 0);
    } else if (openLoop) freeUnits++;
  };

  // ---- writing

  const flush = (i: number): void => {
    const f = fd[i];
    while (wPend[i] > 0) {
      const p = wPos[i];
      const len = Math.min(wPend[i], payloadsLen - p);
      const n = sys.sendAt(f, payloadsAt + p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        wPend[i] -= n;
        wPos[i] = (p + n) % payloadsLen;
        if (measuring) stats.out(n);
        continue;
      }
      const e = n < 0 ? sys.errno() : E.EAGAIN;
      if (e === E.EINTR) continue;
      if (e === E.EAGAIN) {
        if (!outArmed[i]) {
          outArmed[i] = 1;
          setEvents(i, IN | EPOLLOUT, EPOLL_CTL_MOD);
        }
        return;
      }
      return lose(i, e === E.EPIPE || e === E.ECONNRESET ? 'RESET' : 'IO_ERROR', e, NO_REPLY, ERROR_PAUSE_MS);
    }
    if (outArmed[i]) {
      outArmed[i] = 0;
      setEvents(i, IN, EPOLL_CTL_MOD);
    }
    if (halfClose) sys.shutdown(f, SHUT_WR);
  };

  /** Persistent: start `m` requests on connection i (scheduled at t0, or now). */
  const sendBatch = (i: number, m: number, t0: number): void => {
    for (let j = 0; j < m; j++) {
      const idx = i * K + ((head[i] + inflight[i]) % K);
      starts[idx] = t0;
      sentAt[idx] = now;
      inflight[i]++;
    }
    pending += m;
    wPend[i] += m * plen;
    flush(i);
  };

  // ---- connecting

  const onConnected = (i: number): void => {
    st[i] = OPEN;
    connectedAt[i] = now;
    backoff[i] = 0;
    failures[i] = 0;
    framer.reset(i);
    got[i] = 0;
    if (tcp) setEvents(i, IN, EPOLL_CTL_MOD);
    if (!persistent) {
      if (starts[i * K] >= tMeasure) stats.connected(now - connStart[i]);
      inflight[i] = 1;
      head[i] = 0;
      sentAt[i * K] = now;
      wPend[i] = plen;
      if (plen > 0) flush(i);
      else if (cfg.halfClose) sys.shutdown(fd[i], SHUT_WR);
      return;
    }
    stats.connected(now - connStart[i]);
    if (!started || stopping) return;
    if (openLoop) freeUnits += K;
    else enqueue(i, K);
  };

  const connectFailed = (i: number, code: ErrorCode, errno: number): void => {
    backoff[i] = 0;
    // A failed reopen is an error of the run (the server is gone) and backs off.
    if (persistent && started) return lose(i, code, errno, NO_REPLY, stats.reconnectFailed(measuring, ++failures[i], code, errno));
    lose(i, code, errno, NO_REPLY, ERROR_PAUSE_MS);
  };

  const tryConnect = (i: number): void => {
    const s = sys.socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) {
      const e = sys.errno();
      return connectFailed(i, e === E.EMFILE || e === E.ENFILE ? 'TOO_MANY_FILES' : 'IO_ERROR', e);
    }
    fd[i] = s;
    gen[i]++;
    if (tcp) sys.setsockopt(s, IPPROTO_TCP, TCP_NODELAY, one, 4);
    setEvents(i, tcp ? IN | EPOLLOUT : IN, EPOLL_CTL_ADD);
    const r = sys.connect(s, addr, addrLen);
    now = performance.now(); // a Unix connect completes (or fails) within the call: time it
    if (r === 0) return onConnected(i);
    const e = sys.errno();
    if (e === E.EINPROGRESS) {
      st[i] = CONNECTING;
      wake(connStart[i] + connectTimeoutMs);
      return;
    }
    closeFd(i);
    if (e === E.EAGAIN) {
      // A Unix socket's listen backlog is full: retry with back-off until the connect timeout.
      stats.connectRetries++;
      if (now - connStart[i] >= connectTimeoutMs) return connectFailed(i, 'BACKLOG_FULL', 0);
      backoff[i] = Math.min(BACKLOG_MAX_MS, backoff[i] > 0 ? backoff[i] * 2 : BACKLOG_MIN_MS);
      st[i] = BACKOFF;
      retryAt[i] = now + backoff[i];
      wake(retryAt[i]);
      return;
    }
    connectFailed(i, connectCode(e), e);
  };

  const startOneshot = (i: number, t0: number): void => {
    hasReq[i] = 1;
    pending++;
    now = performance.now();
    starts[i * K] = openLoop ? t0 : now;
    connStart[i] = now;
    backoff[i] = 0;
    tryConnect(i);
  };

  const startConnect = (i: number): void => {
    if (started) stats.reconnecting();
    now = performance.now();
    connStart[i] = now;
    backoff[i] = 0;
    tryConnect(i);
  };

  // ---- reading

  const onData = (i: number, n: number): void => {
    if (measuring) stats.in(n);
    if (inflight[i] === 0) return; // nothing asked: not a reply
    if (sentinel >= 0) rbuf[n] = sentinel;
    let pos = 0;
    let done = 0;
    while (pos < n && inflight[i] > 0) {
      const end = framer.scan(i, rbuf, pos, n);
      const segEnd = end < 0 ? n : end;
      if (check) {
        check.feed(i, rbuf, pos, segEnd);
        const have = sampleLen[i];
        if (have < SAMPLE) sampleLen[i] += rbuf.copy(sampleBuf!, i * SAMPLE + have, pos, Math.min(segEnd, pos + SAMPLE - have));
      }
      got[i] += segEnd - pos;
      if (end < 0) break;
      completeOne(i);
      done++;
      if (!persistent) return;
      pos = end;
    }
    if (idleRule && inflight[i] > 0) {
      idleAt[i] = now + idleMs;
      wake(idleAt[i]);
    }
    if (persistent && done > 0 && !openLoop && !stopping) enqueue(i, done);
  };

  const onEof = (i: number): void => {
    if (!persistent) {
      if (!hasReq[i]) return closeFd(i);
      if (eofRule || idleRule) return completeOne(i); // empty: CLOSED_EARLY there
      return lose(i, 'CLOSED_EARLY', 0, got[i] > 0 ? PARTIAL_REPLY : NO_REPLY, 0);
    }
    // The server closed a persistent connection: what was in flight is lost; reconnect at once.
    lose(i, 'CLOSED_EARLY', 0, got[i] > 0 ? PARTIAL_REPLY : NO_REPLY, 0);
  };

  const onReadable = (i: number, events: number): void => {
    const f = fd[i];
    const g = gen[i];
    // The peer had shut down its side (and reported no error) when epoll looked: a short read then
    // takes the rest of the stream, and its end needs no read of its own.
    const peerDone = (events & (EPOLLRDHUP | EPOLLHUP)) !== 0 && (events & EPOLLERR) === 0;
    for (;;) {
      const n = sys.readAt(f, rbufAt, RBUF);
      if (n > 0) {
        onData(i, n);
        // Closed (and maybe replaced by a new connection that got the same fd number).
        if (gen[i] !== g || fd[i] < 0) return;
        if (n === RBUF) continue;
        // A short read took all that was queued (edge-triggered: new data raises a new event).
        return peerDone ? onEof(i) : undefined;
      }
      if (n === 0) return onEof(i);
      const e = sys.errno();
      if (e === E.EAGAIN) return;
      if (e === E.EINTR) continue;
      return lose(i, e === E.ECONNRESET || e === E.EPIPE ? 'RESET' : 'IO_ERROR', e, got[i] > 0 ? PARTIAL_REPLY : NO_REPLY, ERROR_PAUSE_MS);
    }
  };

  const onEvent = (i: number, events: number): void => {
    const s = st[i];
    if (s === CONNECTING) {
      optLenView.setUint32(0, 4, true);
      if (sys.getsockopt(fd[i], SOL_SOCKET, SO_ERROR, optVal, optLen) !== 0) return connectFailed(i, 'IO_ERROR', sys.errno());
      const err = optView.getInt32(0, true);
      if (err === 0) {
        if (events & EPOLLOUT) onConnected(i);
        return;
      }
      return connectFailed(i, connectCode(err), err);
    }
    if (s !== OPEN) return;
    if (events & EPOLLOUT && wPend[i] > 0) {
      flush(i);
      if (st[i] !== OPEN) return;
    }
    if (events & ~EPOLLOUT) onReadable(i, events);
  };

  // ---- timeouts, retries, idle ends: a scan over the slots

  const scanEvery = Math.max(1, Math.min(50, timeoutMs / 20, connectTimeoutMs / 20));
  let nextScan = now + scanEvery;

  const scan = (): void => {
    nextWake = Infinity;
    for (let i = 0; i < S; i++) {
      const s = st[i];
      if (s === OPEN) {
        if (inflight[i] === 0) continue;
        if (idleRule && got[i] > 0) {
          if (now >= idleAt[i]) {
            completeOne(i);
            if (persistent && !openLoop && !stopping) enqueue(i, 1);
            continue;
          }
          wake(idleAt[i]);
        }
        if (now - sentAt[i * K + head[i]] >= timeoutMs) {
          const code: ErrorCode = eofRule && got[i] > 0 ? 'NEVER_CLOSED' : 'REPLY_TIMEOUT';
          lose(i, code, 0, got[i] > 0 ? PARTIAL_REPLY : NO_REPLY, 0);
        }
      } else if (s === BACKOFF) {
        if (now < retryAt[i]) {
          wake(retryAt[i]);
          continue;
        }
        if (persistent) {
          if (stopping) st[i] = DONE;
          else if (backoff[i] > 0) tryConnect(i); // the same attempt, retried on a full backlog
          else startConnect(i);
        } else if (hasReq[i]) tryConnect(i);
        else release(i, 0);
      } else if (s === CONNECTING) {
        if (now - connStart[i] >= connectTimeoutMs) connectFailed(i, 'CONNECT_TIMEOUT', 0);
        else wake(connStart[i] + connectTimeoutMs);
      }
    }
    nextScan = now + scanEvery;
  };

  const poll = (waitMs: number): void => {
    const n = sys.epollWait(ep, evs, MAX_EVENTS, waitMs);
    now = performance.now();
    for (let k = 0; k < n; k++) {
      const o = k * EPOLL_EVENT_SIZE;
      const i = evsView.getUint32(o + EPOLL_DATA_OFFSET, true);
      // An event fetched for a connection this batch already closed and replaced.
      if (evsView.getUint32(o + EPOLL_DATA_OFFSET + 4, true) !== gen[i] || fd[i] < 0) continue;
      onEvent(i, evsView.getUint32(o, true));
    }
    if (now >= nextScan || now >= nextWake) scan();
  };

  const cleanup = (): void => {
    for (let i = 0; i < S; i++) closeFd(i);
    sys.close(ep);
    // The engine passes these by address only: this use keeps them (and their memory) alive until now.
    rbuf.fill(0, 0, 1);
    payloads.fill(0, 0, 1);
  };

  // ---- setup: persistent connections are opened before the clock starts

  if (persistent) {
    for (let i = 0; i < S && !fatal; i++) startConnect(i);
    const setupEnd = performance.now() + connectTimeoutMs + 1_000;
    for (;;) {
      let open = 0;
      for (let i = 0; i < S; i++) if (st[i] === OPEN) open++;
      if (open === S || fatal) break;
      if (Atomics.load(ctl, CTL_STOP) === ABORT || now > setupEnd) {
        fatal ??= { code: 'CONNECT_TIMEOUT', message: `${cfg.target.display}: could not open ${S - open} of ${S} connections within ${connectTimeoutMs}ms` };
        break;
      }
      poll(Math.max(0, Math.min(MAX_WAIT_MS, nextWake - now, nextScan - now)));
    }
    if (fatal) {
      cleanup();
      io.post({ type: 'fatal', code: fatal.code, message: fatal.message });
      return;
    }
  }
  io.post({ type: 'ready' });
  tStart = await io.waitGo();
  started = true;
  tMeasure = tStart + cfg.warmupMs;
  tEnd = cfg.durationMs < 0 ? Infinity : tMeasure + cfg.durationMs;

  // ---- the run

  const interval = openLoop ? 1000 / cfg.rate : 0;
  let schedIdx = 0; // requests whose scheduled time has come
  let startedIdx = 0; // of those, started
  const scheduledAt = (k: number): number => tStart + cfg.phaseMs + k * interval;
  let nextTick = Infinity;
  let second = 0;

  // Wait for the common start, so all workers begin together.
  while ((now = performance.now()) < tStart) poll(Math.min(MAX_WAIT_MS, tStart - now));
  const beginMeasuring = (): void => {
    measuring = true;
    stats.begin();
    nextTick = tMeasure + 1000;
  };
  if (now >= tMeasure) beginMeasuring();

  if (!openLoop) {
    for (let i = 0; i < S; i++) enqueue(i, persistent ? K : 1);
  } else if (persistent) {
    for (let i = 0; i < S; i++) if (st[i] === OPEN) freeUnits += K;
  } else {
    freeUnits = S;
  }

  for (;;) {
    now = performance.now();
    if (!measuring && now >= tMeasure) beginMeasuring();
    const stop = Atomics.load(ctl, CTL_STOP);
    if (stop === ABORT) {
      if (measuring) stats.abandoned += pending;
      break;
    }
    if (!stopping && (stop !== RUN || now >= tEnd)) stopping = true;

    if (readyN > 0) {
      // (A start that fails at once backs off instead of queueing again; were one to queue, the loop takes it too.)
      for (let k = 0; k < readyN; k++) {
        const i = readyQ[k];
        queued[i] = 0;
        let m = owed[i];
        owed[i] = 0;
        if (persistent) {
          if (st[i] !== OPEN) continue; // lost meanwhile: its reconnect queues it again
          m = Math.min(m, K - inflight[i]);
          let c = 0;
          while (c < m && !stopping && claim()) c++;
          if (c > 0) {
            now = performance.now(); // each request's clock starts at its own send
            sendBatch(i, c, now);
          }
        } else if (st[i] === FREE) {
          if (!stopping && claim()) startOneshot(i, performance.now());
          else st[i] = DONE;
        }
      }
      readyN = 0;
    }

    if (openLoop && !stopping) {
      while (scheduledAt(schedIdx) <= now) {
        if (scheduledAt(schedIdx) >= tEnd) {
          stopping = true;
          break;
        }
        if (scheduledAt(schedIdx) >= tMeasure) {
          if (!claim()) break;
          stats.scheduled++;
        }
        schedIdx++;
      }
      while (startedIdx < schedIdx && freeUnits > 0) {
        let i = cursor;
        let found = false;
        for (let n = 0; n < S && !found; n++) {
          i = i + 1 === S ? 0 : i + 1;
          found = persistent ? st[i] === OPEN && inflight[i] < K : st[i] === FREE;
        }
        if (!found) {
          freeUnits = 0; // the count drifted; recounted as slots free up
          break;
        }
        cursor = i;
        const t0 = scheduledAt(startedIdx++);
        if (t0 >= tMeasure && now - t0 > 1) stats.late++;
        freeUnits--;
        if (persistent) sendBatch(i, 1, t0);
        else startOneshot(i, t0);
      }
    }
    if (stopping) {
      if (openLoop && startedIdx < schedIdx) {
        // Never started: counted, not sent, and not given made-up latencies.
        for (let k = startedIdx; k < schedIdx; k++) if (scheduledAt(k) >= tMeasure) stats.unsent++;
        startedIdx = schedIdx;
      }
      if (pending === 0) break;
    }
    if (measuring && now >= nextTick) {
      io.post(stats.tick(second++, 1000));
      nextTick += 1000;
      continue;
    }
    let until = Math.min(nextScan, nextWake, nextTick, now + MAX_WAIT_MS);
    if (!stopping) {
      until = Math.min(until, tEnd);
      if (openLoop) until = Math.min(until, scheduledAt(schedIdx));
    }
    if (!measuring) until = Math.min(until, tMeasure);
    poll(Math.max(0, until - now));
  }

  now = performance.now();
  const end = Math.max(now, tMeasure);
  if (measuring) {
    const tickStart = tMeasure + second * 1000;
    if (end > tickStart) io.post(stats.tick(second, end - tickStart));
  }
  cleanup();
  io.post(stats.done(measuring ? end - tMeasure : 0));
}

/** The typed error code for a connect errno (the same mapping `udsctl send` uses). */
export function connectCode(errno: number): ErrorCode {
  switch (errno) {
    case E.ENOENT:
    case E.ENOTDIR:
      return 'NOT_FOUND';
    case E.ENOTSOCK:
      return 'NOT_A_SOCKET';
    case E.EACCES:
    case E.EPERM:
      return 'PERMISSION_DENIED';
    case E.ECONNREFUSED:
      return 'REFUSED';
    case E.ETIMEDOUT:
      return 'CONNECT_TIMEOUT';
    case E.ECONNRESET:
    case E.EPIPE:
      return 'RESET';
    case E.EMFILE:
    case E.ENFILE:
      return 'TOO_MANY_FILES';
    default:
      return 'IO_ERROR';
  }
}
