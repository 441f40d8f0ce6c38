/**
 * The epoll serving engine: one worker thread's loop. Each thread has its own
 * epoll set watching the shared listening socket (EPOLLEXCLUSIVE: one thread
 * is woken per connection, not all), accepts non-blocking until EAGAIN, and
 * serves its connections with read/send through libc. Per-connection state
 * lives in typed arrays indexed by slot; the request buffer and the reply
 * buffer are reused, so a one-shot exchange allocates nothing.
 *
 * The behaviour is the net engine's (UdsServer.handle), for the options this
 * engine takes: same reply bytes, same framing, same ends and reasons in the
 * log. In particular a one-shot reply is followed by shutdown(SHUT_WR), not
 * close(): the connection ends when the client closes, as a node:net socket
 * with allowHalfOpen does, so a client still writing is never reset.
 *
 * epoll_wait is bounded (MAX_WAIT_MS): the shutdown states in the control
 * words are seen within that, and log records go out at least that often.
 *
 * Over ~400 lines, and runServeThread one closure, for now: the policy it
 * shares with the net engine (reply rule, end and reason words, descriptor
 * margins, drain) comes from ../protocol.ts, but its loop (accept, slots,
 * read/framing, reply, idle checks, log batching, shutdown) is still one
 * function over typed-array slot state. Splitting it along those seams into
 * a small class, measured against perf's serve sections, is the open part of
 * issue 9.
 */
import { FD_CLEAR_MARGIN, FD_WARN_MARGIN, ONESHOT_READ_SIZE, defaultReply } from '../protocol.js';
import {
  ABORT,
  C_ACTIVE,
  C_FD_BASE,
  C_FD_WARNED,
  C_HANDLED,
  C_STATE,
  C_STOP_ACKS,
  CLOSING,
  END_CODE,
  PREVIEW,
  REASON_ERRNO,
  REASON_IDLE,
  REASON_MAX_BYTES,
  REASON_MAX_CONNS,
  REASON_NONE,
  REASON_NO_REQUEST,
  REASON_UNREAD,
  RUN,
  STOP,
  type ThreadConfig,
  type ThreadMessage,
  acceptedWord,
  openWord,
} from './shared.js';
import {
  AF_UNIX,
  E,
  EPOLLERR,
  EPOLLEXCLUSIVE,
  EPOLLHUP,
  EPOLLIN,
  EPOLLOUT,
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_CTL_MOD,
  EPOLL_DATA_OFFSET,
  EPOLL_EVENT_SIZE,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  SHUT_WR,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  errnoName,
} from '../../socket/ffi.js';
import { epollLibc } from '../../socket/libc.js';
import { copyBytes, RecordBatch } from './record-batch.js';
import { type LogRenderers, ThreadLog } from './thread-log.js';

const MAX_EVENTS = 256;
/** Bound on every epoll_wait: how soon a thread sees a state change. */
const MAX_WAIT_MS = 50;
const CLOSING_WAIT_MS = 5;
/** Log records wait at most this long, or until a batch is full. */
const LOG_FLUSH_MS = 50;
/** Connections accepted per listener event before the others get a turn. */
const ACCEPT_BURST = 64;
/** Reading stops while this much output waits for a client that does not read. */
const OUT_HIGH_WATER = 1024 * 1024;
/** Node reads in 64 KiB chunks; so do we (the one-shot request is the first 512 bytes of the first chunk). */
const RBUF = 64 * 1024;
const LISTENER = 0xffffffff;
const INITIAL_SLOTS = 256;
/**
 * After a one-shot reply and shutdown(SHUT_WR), the client reads the reply and
 * closes; we only need to see that end to close our side too. Rather than an
 * epoll_ctl and a wake-up per connection for it, the end is read for once this
 * long after the reply, in a loop turn that happens anyway (a client that has
 * not ended by then is waited for through epoll as usual). The client is not
 * kept waiting: it has its reply and its end-of-file already.
 */
const LINGER_MS = 1;

// Slot phases.
const FREE = 0;
/** Reading the request (one-shot) or lines (keep-alive). */
const READING = 1;
/** One-shot: the request was taken; what follows is counted and ignored until the client's end. */
const ANSWERED = 2;

// Slot flags.
const REPLIED = 1;
const REGISTERED = 2;
/** One-shot: shut down our side once the reply is out. */
const SHUT_AFTER_FLUSH = 4;
/** The client has ended: close once the output is out. */
const CLOSE_AFTER_FLUSH = 8;
/** Not reading: output is backed up, or the client has ended. */
const IN_PAUSED = 16;
/** One-shot, answered, not in the epoll set: its end is looked for lazily (see LINGER_MS). */
const LINGERING = 32;

const NL = 0x0a;

/**
 * Run one serving thread until shutdown. Never throws for a client's doing;
 * returns when done. `render`: the renderer cfg.logTo names, loaded.
 */
export function runServeThread(cfg: ThreadConfig, post: (msg: ThreadMessage, transfer?: ArrayBuffer[]) => void, render?: LogRenderers): void {
  const sys = epollLibc();
  const ctl = new Int32Array(cfg.control);
  const ids = new BigInt64Array(cfg.ids);
  const lfd = cfg.listenFd;
  const keepAlive = cfg.keepAlive;
  const readMode = cfg.read;
  const echo = cfg.echo;
  const tlog = cfg.logTo && render ? new ThreadLog(cfg.logTo.fd, render, ctl, cfg, (message) => post({ type: 'warning', message }), performance.now()) : null;
  const postLog = cfg.log; // records for the main thread
  const logOn = postLog || tlog !== null;
  // Rendered here and nothing to send: the records of each loop turn are rendered at its end, a
  // few at a time, rather than 512 at once (a pause in which nobody is accepted); ThreadLog
  // batches the writes.
  const renderEachTurn = tlog !== null && !postLog;
  const maxBytes = cfg.maxBytes;
  const idleMs = cfg.idleMs;
  const maxConns = cfg.maxConns;
  const count = cfg.count;
  const fixedReply = cfg.reply === null ? null : Buffer.from(cfg.reply);
  const me = cfg.index;

  const ep = sys.epollCreate(EPOLL_CLOEXEC);
  if (ep < 0) throw new Error(`epoll_create1: ${errnoName(sys.errno())}`);
  const evs = new Uint8Array(EPOLL_EVENT_SIZE * MAX_EVENTS);
  const evsView = new DataView(evs.buffer);
  const ev = new Uint8Array(EPOLL_EVENT_SIZE);
  const evView = new DataView(ev.buffer);
  // One byte more than a read takes, for a newline sentinel: a search never runs past the data.
  const rbuf = Buffer.allocUnsafe(RBUF + 1);
  let wbuf = Buffer.allocUnsafe(RBUF);
  let wlen = 0;
  // libuv's answer to EMFILE, which we copy: a spare descriptor, given back to accept and close the excess.
  let reserveFd = sys.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  // ---- per-connection state, by slot
  let cap = 0;
  let fdOf = new Int32Array(0);
  let gen = new Uint32Array(0);
  let phase = new Uint8Array(0);
  let flags = new Uint8Array(0);
  let armed = new Uint32Array(0);
  let endOf = new Int8Array(0);
  let reasonOf = new Uint8Array(0);
  let errnoOf = new Int32Array(0);
  let startAt = new Float64Array(0);
  let lastActive = new Float64Array(0);
  let bytesIn = new Float64Array(0);
  let bytesOut = new Float64Array(0);
  let requests = new Float64Array(0);
  let idOf = new Float64Array(0);
  let wallAt = new Float64Array(0);
  let reqLen = new Int16Array(0);
  let repLen = new Int16Array(0);
  let reqPrev = new Uint8Array(0);
  let repPrev = new Uint8Array(0);
  let freeList = new Int32Array(0);
  let freeTop = 0;
  let highWater = 0; // slots below this have been used
  /** Partial input (line and eof framing, keep-alive's unfinished line). */
  const pendIn: (Buffer[] | null)[] = [];
  const pendInLen: number[] = [];
  /** Output the client has not taken yet. */
  const pendOut: (Buffer | null)[] = [];
  /** Last fixed reply sent (a reference: the reply buffer is replaced, never changed). */
  const repRef: (Buffer | null)[] = [];
  /** Lingering one-shot connections, oldest first: slot, its generation, since when. */
  let lqSlot: number[] = [];
  let lqGen: number[] = [];
  let lqAt: number[] = [];
  let lqHead = 0;

  const grow = (): void => {
    const n = cap === 0 ? INITIAL_SLOTS : cap * 2;
    const g = <T extends Int32Array | Uint32Array | Uint8Array | Int8Array | Int16Array | Float64Array>(a: T, C: new (n: number) => T, per = 1): T => {
      const b = new C(n * per);
      b.set(a);
      return b;
    };
    fdOf = g(fdOf, Int32Array);
    gen = g(gen, Uint32Array);
    phase = g(phase, Uint8Array);
    flags = g(flags, Uint8Array);
    armed = g(armed, Uint32Array);
    endOf = g(endOf, Int8Array);
    reasonOf = g(reasonOf, Uint8Array);
    errnoOf = g(errnoOf, Int32Array);
    startAt = g(startAt, Float64Array);
    lastActive = g(lastActive, Float64Array);
    bytesIn = g(bytesIn, Float64Array);
    bytesOut = g(bytesOut, Float64Array);
    requests = g(requests, Float64Array);
    if (logOn) {
      idOf = g(idOf, Float64Array);
      wallAt = g(wallAt, Float64Array);
      reqLen = g(reqLen, Int16Array);
      repLen = g(repLen, Int16Array);
      reqPrev = g(reqPrev, Uint8Array, PREVIEW);
      repPrev = g(repPrev, Uint8Array, PREVIEW);
    }
    const fl = new Int32Array(n);
    fl.set(freeList.subarray(0, freeTop));
    freeList = fl;
    for (let i = n - 1; i >= cap; i--) {
      freeList[freeTop++] = i;
      pendIn.push(null);
      pendInLen.push(0);
      pendOut.push(null);
      repRef.push(null);
    }
    cap = n;
  };
  grow();

  // ---- clocks and the reply
  let now = performance.now();
  let wall = Date.now();
  let replySecond = -1;
  let reply: Buffer = fixedReply ?? Buffer.alloc(0);
  const tick = (): void => {
    now = performance.now();
    wall = Date.now();
    if (fixedReply === null) {
      const s = Math.floor(wall / 1000);
      if (s !== replySecond) {
        replySecond = s;
        reply = defaultReply(new Date(wall));
      }
    }
  };
  tick();

  // ---- state
  let closing = false;
  let stopped = false; // listener out of our epoll set
  let open = 0;
  let accepted = 0;
  let acceptPausedUntil = 0; // out of descriptors with no reserve: retry then
  let listening = false;

  // ---- the log
  const log = new RecordBatch((count, nums, text) => {
    // Rendered here (logTo), and/or sent to the main thread (which then owns nums).
    if (tlog) tlog.add(count, nums, text, now);
    if (postLog) {
      const copy = text.slice();
      post({ type: 'logs', count, nums, text: copy }, [nums.buffer as ArrayBuffer, copy.buffer as ArrayBuffer]);
    }
  }, postLog);

  const record = (
    id: number,
    at: number,
    inB: number,
    outB: number,
    reqs: number,
    durationUs: number,
    end: number,
    reason: number,
    errno: number,
    slot: number,
  ): void => {
    log.begin(now, id, at, inB, outB, reqs, durationUs, end, reason, errno, 0);
    if (slot >= 0) {
      log.preview(0, reqPrev, slot * PREVIEW, reqLen[slot]);
      const ref = repRef[slot];
      if (ref !== null) log.preview(1, ref, 0, Math.min(ref.length, PREVIEW));
      else log.preview(1, repPrev, slot * PREVIEW, repLen[slot]);
    }
    log.end();
  };

  /** --keep-alive: request `seq` of slot i (src[start, end)) and its reply (body[bStart, bStart + bLen)). */
  const recordRequest = (i: number, seq: number, src: Uint8Array, start: number, end: number, body: Uint8Array, bStart: number, bLen: number): void => {
    log.begin(now, idOf[i], wall, end - start, bLen, 0, 0, 0, REASON_NONE, 0, seq);
    log.preview(0, src, start, Math.min(end - start, PREVIEW));
    log.preview(1, body, bStart, Math.min(bLen, PREVIEW));
    log.end();
  };

  // Ids are taken from the shared counter in blocks when this thread is the only one (a BigInt
  // atomic per connection was a visible cost); with several, one at a time, so ids keep accept order.
  const idBlock = cfg.threads === 1 ? 1024 : 1;
  const idBlockBig = BigInt(idBlock);
  let idNext = 0;
  let idEnd = 0;
  const nextId = (): number => {
    if (idNext === idEnd) {
      idNext = Number(Atomics.add(ids, 0, idBlockBig));
      idEnd = idNext + idBlock;
    }
    return idNext++;
  };

  // ---- epoll registration

  const setEvents = (op: number, fd: number, events: number, slot: number, g: number): number => {
    evView.setUint32(0, events, true);
    evView.setUint32(EPOLL_DATA_OFFSET, slot, true);
    evView.setUint32(EPOLL_DATA_OFFSET + 4, g, true);
    return sys.epollCtl(ep, op, fd, ev);
  };

  /** Make the slot's epoll interest match what it waits for. */
  const arm = (i: number): void => {
    const want = (flags[i] & IN_PAUSED ? 0 : EPOLLIN) | (pendOut[i] !== null ? EPOLLOUT : 0);
    if (flags[i] & REGISTERED) {
      if (armed[i] === want) return;
      setEvents(EPOLL_CTL_MOD, fdOf[i], want, i, gen[i]);
    } else {
      setEvents(EPOLL_CTL_ADD, fdOf[i], want, i, gen[i]);
      flags[i] |= REGISTERED;
    }
    armed[i] = want;
  };

  const addListener = (): void => {
    if (setEvents(EPOLL_CTL_ADD, lfd, EPOLLIN | EPOLLEXCLUSIVE, LISTENER, 0) === 0) listening = true;
    else {
      const e = sys.errno();
      // EINVAL: a kernel without EPOLLEXCLUSIVE; every thread is then woken per connection.
      if (e === E.EINVAL && setEvents(EPOLL_CTL_ADD, lfd, EPOLLIN, LISTENER, 0) === 0) listening = true;
      else throw new Error(`epoll_ctl on the listening socket: ${errnoName(e)}`);
    }
  };

  const dropListener = (): void => {
    if (!listening) return;
    sys.epollCtl(ep, EPOLL_CTL_DEL, lfd, ev);
    listening = false;
  };

  // ---- ending connections

  const setEnd = (i: number, end: number, reason: number, errno = 0): void => {
    if (endOf[i] >= 0) return;
    endOf[i] = end;
    reasonOf[i] = reason;
    errnoOf[i] = errno;
  };

  const reportFdsFree = (): void => {
    let total = Atomics.load(ctl, C_FD_BASE);
    for (let t = 0; t < cfg.threads; t++) total += Atomics.load(ctl, openWord(t));
    if (total < cfg.fdLimit - FD_CLEAR_MARGIN && Atomics.compareExchange(ctl, C_FD_WARNED, 1, 0) === 1) {
      post({ type: 'fd-pressure', hit: false, open: total });
    }
  };

  const reportFdPressure = (): void => {
    if (Atomics.compareExchange(ctl, C_FD_WARNED, 0, 1) !== 0) return;
    let total = Atomics.load(ctl, C_FD_BASE);
    for (let t = 0; t < cfg.threads; t++) total += Atomics.load(ctl, openWord(t));
    post({ type: 'fd-pressure', hit: true, open: total });
  };

  /** Close the connection (dropping what it had not sent) and log it. */
  const closeConn = (i: number): void => {
    sys.close(fdOf[i]); // also takes it out of the epoll set
    fdOf[i] = -1;
    phase[i] = FREE;
    gen[i]++;
    open--;
    Atomics.store(ctl, openWord(me), open);
    if (maxConns > 0) Atomics.sub(ctl, C_ACTIVE, 1);
    const replied = (flags[i] & REPLIED) !== 0;
    if (closing && endOf[i] < 0 && !replied) setEnd(i, END_CODE.shutdown, REASON_NONE);
    setEnd(i, replied ? END_CODE.closed : END_CODE['client-closed'], REASON_NONE);
    if (logOn) {
      record(idOf[i], wallAt[i], bytesIn[i], bytesOut[i], requests[i], Math.round((now - startAt[i]) * 1000), endOf[i], reasonOf[i], errnoOf[i], i);
    }
    pendIn[i] = null;
    pendInLen[i] = 0;
    pendOut[i] = null;
    repRef[i] = null;
    freeList[freeTop++] = i;
    if (count > 0 && Atomics.add(ctl, C_HANDLED, 1) + 1 === count) post({ type: 'count' });
    if (Atomics.load(ctl, C_FD_WARNED) === 1) reportFdsFree();
  };

  const fail = (i: number, errno: number): void => {
    setEnd(i, errno === E.ECONNRESET || errno === E.EPIPE ? END_CODE['client-reset'] : END_CODE.error, REASON_ERRNO, errno);
    closeConn(i);
  };

  // ---- writing

  /** Send `len` bytes of `src` (after what is queued); false when the connection was closed. */
  const sendOut = (i: number, src: Uint8Array, len: number): boolean => {
    if (len === 0) return true;
    const queued = pendOut[i];
    if (queued !== null) {
      pendOut[i] = Buffer.concat([queued, src.subarray(0, len)]);
      if (pendOut[i]!.length > OUT_HIGH_WATER) flags[i] |= IN_PAUSED;
      arm(i);
      return true;
    }
    let off = 0;
    for (;;) {
      const n = sys.send(fdOf[i], off === 0 ? src : src.subarray(off), len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        off += n;
        lastActive[i] = now;
        if (off === len) return true;
        continue;
      }
      const e = n < 0 ? sys.errno() : E.EAGAIN;
      if (e === E.EINTR) continue;
      if (e === E.EAGAIN) {
        pendOut[i] = Buffer.from(src.subarray(off, len));
        if (len - off > OUT_HIGH_WATER) flags[i] |= IN_PAUSED;
        arm(i);
        return true;
      }
      fail(i, e);
      return false;
    }
  };

  /** The one-shot reply is out: shut down our side and wait for the client's end (or close if it has ended). */
  const afterOneshotReply = (i: number): void => {
    if (pendOut[i] !== null) {
      flags[i] |= SHUT_AFTER_FLUSH;
      return;
    }
    if (flags[i] & CLOSE_AFTER_FLUSH) return closeConn(i);
    sys.shutdown(fdOf[i], SHUT_WR);
    if (!(flags[i] & REGISTERED)) {
      flags[i] |= LINGERING;
      lqSlot.push(i);
      lqGen.push(gen[i]);
      lqAt.push(now);
    }
  };

  /** Read the end of lingering connections whose time has come; the others wait through epoll. */
  const checkLingering = (): void => {
    while (lqHead < lqSlot.length) {
      const i = lqSlot[lqHead];
      const g = lqGen[lqHead];
      if (gen[i] === g && phase[i] !== FREE && now - lqAt[lqHead] < LINGER_MS) break;
      lqHead++;
      if (gen[i] !== g || phase[i] === FREE) continue;
      flags[i] &= ~LINGERING;
      onReadable(i);
      if (gen[i] === g) arm(i);
    }
    if (lqHead === lqSlot.length) {
      lqSlot = [];
      lqGen = [];
      lqAt = [];
      lqHead = 0;
    } else if (lqHead > 4096) {
      lqSlot = lqSlot.slice(lqHead);
      lqGen = lqGen.slice(lqHead);
      lqAt = lqAt.slice(lqHead);
      lqHead = 0;
    }
  };

  const onWritable = (i: number): void => {
    const out = pendOut[i]!;
    let off = 0;
    while (off < out.length) {
      const n = sys.send(fdOf[i], off === 0 ? out : out.subarray(off), out.length - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        off += n;
        lastActive[i] = now;
        continue;
      }
      const e = n < 0 ? sys.errno() : E.EAGAIN;
      if (e === E.EINTR) continue;
      if (e === E.EAGAIN) break;
      return fail(i, e);
    }
    if (off < out.length) {
      if (off > 0) pendOut[i] = out.subarray(off);
      return;
    }
    pendOut[i] = null;
    const f = flags[i];
    if (f & CLOSE_AFTER_FLUSH) return closeConn(i);
    if (f & SHUT_AFTER_FLUSH) {
      flags[i] &= ~SHUT_AFTER_FLUSH;
      sys.shutdown(fdOf[i], SHUT_WR);
    }
    flags[i] &= ~IN_PAUSED;
    arm(i);
  };

  // ---- requests

  const notePreview = (prev: Uint8Array, lens: Int16Array, i: number, src: Uint8Array, start: number, end: number): void => {
    const n = Math.min(end - start, PREVIEW);
    copyBytes(src, start, prev, i * PREVIEW, n);
    lens[i] = n;
  };

  /** A one-shot request: reply, then end our side. `ended`: the client has ended already. */
  const answerOneshot = (i: number, req: Uint8Array, start: number, end: number, ended: boolean): void => {
    phase[i] = ANSWERED;
    requests[i]++;
    flags[i] |= REPLIED;
    if (ended) flags[i] |= CLOSE_AFTER_FLUSH | IN_PAUSED;
    const body = echo ? req : reply;
    const bStart = echo ? start : 0;
    const bLen = echo ? end - start : reply.length;
    bytesOut[i] += bLen;
    if (logOn) {
      notePreview(reqPrev, reqLen, i, req, start, end);
      if (echo) notePreview(repPrev, repLen, i, req, start, end);
      else repRef[i] = reply;
    }
    if (!sendOut(i, bStart === 0 ? body : body.subarray(bStart), bLen)) return;
    afterOneshotReply(i);
  };

  /** Keep-alive: queue the reply to one line (sent after the whole chunk, in one send). */
  const queueLine = (i: number, src: Uint8Array, start: number, end: number): void => {
    const seq = ++requests[i];
    const body = echo ? src : reply;
    const bStart = echo ? start : 0;
    const bLen = echo ? end - start : reply.length;
    if (logOn) recordRequest(i, seq, src, start, end, body, bStart, bLen);
    if (wlen + bLen > wbuf.length) {
      const b = Buffer.allocUnsafe(Math.max(wbuf.length * 2, wlen + bLen));
      wbuf.copy(b, 0, 0, wlen);
      wbuf = b;
    }
    copyBytes(body, bStart, wbuf, wlen, bLen);
    wlen += bLen;
    bytesOut[i] += bLen;
    flags[i] |= REPLIED;
  };

  const takePending = (i: number, tail?: Uint8Array): Buffer => {
    const parts = pendIn[i]!;
    if (tail !== undefined) parts.push(tail as Buffer);
    const all = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    pendIn[i] = null;
    pendInLen[i] = 0;
    return all;
  };

  const keepPending = (i: number, src: Buffer, start: number, end: number): void => {
    const copy = Buffer.allocUnsafe(end - start);
    src.copy(copy, 0, start, end);
    const parts = pendIn[i];
    if (parts === null) pendIn[i] = [copy];
    else parts.push(copy);
    pendInLen[i] += end - start;
  };

  const overMaxBytes = (i: number): boolean => {
    if (pendInLen[i] <= maxBytes) return false;
    setEnd(i, END_CODE['max-bytes'], REASON_MAX_BYTES);
    closeConn(i);
    return true;
  };

  const onData = (i: number, n: number): void => {
    if (!keepAlive) {
      if (readMode === 'once') return answerOneshot(i, rbuf, 0, Math.min(n, ONESHOT_READ_SIZE), false);
      if (readMode === 'line') {
        const nl = rbuf.indexOf(NL);
        if (nl >= 0 && nl < n) {
          if (pendIn[i] === null) return answerOneshot(i, rbuf, 0, nl + 1, false);
          const req = takePending(i, Buffer.from(rbuf.subarray(0, nl + 1)));
          return answerOneshot(i, req, 0, req.length, false);
        }
      }
      keepPending(i, rbuf, 0, n);
      overMaxBytes(i);
      return;
    }
    // Keep-alive: a reply per line; the replies to the lines of one chunk go out in one send.
    let pos = 0;
    wlen = 0;
    if (pendIn[i] !== null) {
      const nl = rbuf.indexOf(NL);
      if (nl < 0 || nl >= n) {
        keepPending(i, rbuf, 0, n);
        overMaxBytes(i);
        return;
      }
      const line = takePending(i, Buffer.from(rbuf.subarray(0, nl + 1)));
      queueLine(i, line, 0, line.length);
      pos = nl + 1;
    }
    while (pos < n) {
      const nl = rbuf.indexOf(NL, pos);
      if (nl < 0 || nl >= n) break;
      queueLine(i, rbuf, pos, nl + 1);
      pos = nl + 1;
    }
    if (pos < n) keepPending(i, rbuf, pos, n);
    if (!sendOut(i, wbuf, wlen)) return;
    overMaxBytes(i);
  };

  const onEof = (i: number): void => {
    if (phase[i] === ANSWERED) {
      if (pendOut[i] === null) return closeConn(i);
      flags[i] |= CLOSE_AFTER_FLUSH | IN_PAUSED;
      return arm(i);
    }
    // The client ended while we were reading: eof framing's request is complete,
    // and keep-alive's unfinished last line still gets its reply.
    if (pendIn[i] !== null && (keepAlive || readMode === 'eof')) {
      const req = takePending(i);
      if (!keepAlive) return answerOneshot(i, req, 0, req.length, true);
      wlen = 0;
      queueLine(i, req, 0, req.length);
      phase[i] = ANSWERED;
      flags[i] |= CLOSE_AFTER_FLUSH | IN_PAUSED;
      if (!sendOut(i, wbuf, wlen)) return;
      if (pendOut[i] === null) return closeConn(i);
      return arm(i);
    }
    if (requests[i] === 0) setEnd(i, END_CODE['client-closed'], REASON_NO_REQUEST);
    phase[i] = ANSWERED;
    if (pendOut[i] === null) return closeConn(i);
    flags[i] |= CLOSE_AFTER_FLUSH | IN_PAUSED;
    arm(i);
  };

  const onReadable = (i: number): void => {
    const fd = fdOf[i];
    const g = gen[i];
    for (;;) {
      const n = sys.read(fd, rbuf, RBUF);
      if (n > 0) {
        bytesIn[i] += n;
        lastActive[i] = now;
        rbuf[n] = NL;
        if (phase[i] === READING) {
          onData(i, n);
          if (gen[i] !== g || flags[i] & IN_PAUSED) return;
        }
        if (n < RBUF) return; // all that was queued; level-triggered, so more raises a new event
        continue;
      }
      if (n === 0) return onEof(i);
      const e = sys.errno();
      if (e === E.EAGAIN) return;
      if (e === E.EINTR) continue;
      return fail(i, e);
    }
  };

  // ---- accepting

  const overMaxConns = (fd: number): boolean => {
    if (maxConns === 0 || Atomics.add(ctl, C_ACTIVE, 1) < maxConns) return false;
    Atomics.sub(ctl, C_ACTIVE, 1);
    sys.close(fd);
    if (logOn) record(nextId(), wall, 0, 0, 0, 0, END_CODE['over-max-conns'], REASON_MAX_CONNS, 0, -1);
    return true;
  };

  const onAccept = (fd: number): void => {
    if (overMaxConns(fd)) return;
    if (freeTop === 0) grow();
    const i = freeList[--freeTop];
    if (i >= highWater) highWater = i + 1;
    fdOf[i] = fd;
    gen[i]++;
    phase[i] = READING;
    flags[i] = 0;
    armed[i] = 0;
    endOf[i] = -1;
    startAt[i] = now;
    lastActive[i] = now;
    bytesIn[i] = 0;
    bytesOut[i] = 0;
    requests[i] = 0;
    if (logOn) {
      idOf[i] = nextId();
      wallAt[i] = wall;
      reqLen[i] = -1;
      repLen[i] = -1;
    }
    open++;
    Atomics.store(ctl, openWord(me), open);
    if (fd >= cfg.fdLimit - FD_WARN_MARGIN) reportFdPressure();
    // The request is usually queued by the time we accept: read before waiting.
    const g = gen[i];
    onReadable(i);
    if (gen[i] === g && !(flags[i] & LINGERING)) arm(i);
  };

  /** Accept until the queue is empty (or a burst is done: the listener is level-triggered). */
  const acceptSome = (): void => {
    for (let k = 0; k < ACCEPT_BURST; k++) {
      const fd = sys.accept4(lfd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        accepted++;
        onAccept(fd);
        continue;
      }
      const e = sys.errno();
      if (e === E.EAGAIN) break;
      if (e === E.EINTR || e === E.ECONNABORTED) continue;
      if (e === E.EMFILE || e === E.ENFILE) {
        reportFdPressure();
        if (reserveFd >= 0) {
          // Give the spare back, accept and close what waits, take the spare again.
          sys.close(reserveFd);
          for (;;) {
            const c = sys.accept4(lfd, null, null, SOCK_CLOEXEC);
            if (c < 0) break;
            sys.close(c);
          }
          reserveFd = sys.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        }
        if (reserveFd < 0) pauseAccepting(20);
        break;
      }
      // Anything else (ENOBUFS, ENOMEM, ...): say so, and do not spin on it.
      post({ type: 'warning', message: `accept: ${errnoName(e)}` });
      pauseAccepting(100);
      break;
    }
    Atomics.store(ctl, acceptedWord(me), accepted);
  };

  const pauseAccepting = (ms: number): void => {
    dropListener();
    acceptPausedUntil = now + ms;
  };

  // ---- timeouts and shutdown

  const scanEvery = idleMs > 0 ? Math.max(5, Math.min(250, idleMs / 8)) : Infinity;
  let nextScan = now + scanEvery;

  const scanIdle = (): void => {
    for (let i = 0; i < highWater; i++) {
      if (phase[i] !== FREE && now - lastActive[i] >= idleMs) {
        setEnd(i, END_CODE['idle-timeout'], pendOut[i] !== null ? REASON_UNREAD : REASON_IDLE);
        closeConn(i);
      }
    }
    nextScan = now + scanEvery;
  };

  const onState = (state: number): void => {
    if (state >= CLOSING) closing = true;
    if (state >= STOP && !stopped) {
      stopped = true;
      dropListener();
      acceptPausedUntil = 0;
      Atomics.add(ctl, C_STOP_ACKS, 1);
      // As the net engine does at close(): keep-alive connections between requests go now.
      if (keepAlive) {
        for (let i = 0; i < highWater; i++) {
          if (phase[i] === READING && flags[i] & REPLIED && pendIn[i] === null) closeConn(i);
        }
      }
    }
    if (state === ABORT) {
      for (let i = 0; i < highWater; i++) if (phase[i] !== FREE) closeConn(i);
    }
  };

  const poll = (waitMs: number): void => {
    const n = sys.epollWait(ep, evs, MAX_EVENTS, waitMs);
    tick();
    for (let k = 0; k < n; k++) {
      const o = k * EPOLL_EVENT_SIZE;
      const i = evsView.getUint32(o + EPOLL_DATA_OFFSET, true);
      if (i === LISTENER) {
        if (listening) acceptSome();
        continue;
      }
      // An event for a connection this batch already closed (its slot maybe reused).
      if (phase[i] === FREE || evsView.getUint32(o + EPOLL_DATA_OFFSET + 4, true) !== gen[i]) continue;
      const events = evsView.getUint32(o, true);
      // EPOLLERR/EPOLLHUP with output queued: the send reports what happened (EPIPE).
      if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP) && pendOut[i] !== null) {
        onWritable(i);
        if (phase[i] === FREE) continue;
      }
      if (events & ~EPOLLOUT && !(flags[i] & IN_PAUSED)) onReadable(i);
    }
  };

  // ---- the loop

  addListener();
  post({ type: 'ready' });
  let state = RUN;
  for (;;) {
    const s = Atomics.load(ctl, C_STATE);
    if (s !== state) {
      state = s;
      onState(s);
    }
    if (state >= STOP && open === 0) break;
    if (acceptPausedUntil > 0 && now >= acceptPausedUntil && !stopped) {
      acceptPausedUntil = 0;
      if (reserveFd < 0) reserveFd = sys.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      addListener();
    }
    // Once closing, the next state (stop accepting, then abort) is looked for sooner.
    let until = now + (state === RUN ? MAX_WAIT_MS : CLOSING_WAIT_MS);
    if (open > 0 && nextScan < until) until = nextScan;
    if (log.count > 0 && log.firstAt + LOG_FLUSH_MS < until) until = log.firstAt + LOG_FLUSH_MS;
    if (tlog && tlog.dueAt() < until) until = tlog.dueAt();
    if (acceptPausedUntil > 0 && acceptPausedUntil < until) until = acceptPausedUntil;
    if (lqHead < lqSlot.length && lqAt[lqHead] + LINGER_MS < until) until = lqAt[lqHead] + LINGER_MS;
    poll(Math.max(0, Math.ceil(until - now)));
    if (lqHead < lqSlot.length) checkLingering();
    if (now >= nextScan) {
      if (open > 0) scanIdle();
      else nextScan = now + scanEvery;
    }
    if (log.count > 0 && (renderEachTurn || now - log.firstAt >= LOG_FLUSH_MS)) log.flush();
    tlog?.write(now);
  }
  log.flush();
  tlog?.finish(now);
  dropListener();
  if (reserveFd >= 0) sys.close(reserveFd);
  sys.close(ep);
}
