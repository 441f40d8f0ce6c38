/**
 * The net engine: node:net sockets opened with the core's openConnection (its
 * back-off on a full backlog, its typed connect errors), event-driven, on the
 * worker's own event loop. Portable where the epoll engine is not, and several
 * times slower per request; the same framing, recording and scheduling rules.
 */
import { decodeKeepingBytes } from '../escape.js';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { openConnection } from '../connect.js';
import { type ErrorCode, UdsError } from '../errors.js';
import type { Target } from '../target.js';
import type { EngineIo } from './engine-epoll.js';
import { ContainsCheck, ReplyFramer } from './framer.js';
import {
  ABORT,
  CTL_CLAIMED,
  CTL_STOP,
  NO_REPLY,
  PARTIAL_REPLY,
  RUN,
  type WorkerConfig,
  WorkerStats,
  describeError,
} from './worker-stats.js';

const ERROR_PAUSE_MS = 1;

interface Slot {
  i: number;
  socket: net.Socket | null;
  /** Bumped for every connection, so events of a finished one are ignored. */
  gen: number;
  connecting: boolean;
  hasReq: boolean;
  starts: number[];
  sentAt: number[];
  connStart: number;
  connectedAt: number;
  got: number;
  /** The first bytes of the current reply, for the message of the first MISMATCH. */
  sample: Buffer | null;
  sampleLen: number;
  idleAt: number;
  retryAt: number;
  /** Persistent: reconnect attempts failed in a row. */
  failures: number;
  done: boolean;
}

/** Run one worker's share of the load with node:net. */
export async function runNetEngine(cfg: WorkerConfig, io: EngineIo): Promise<void> {
  const target: Target =
    cfg.target.kind === 'tcp'
      ? { ...cfg.target, host: cfg.target.address ?? cfg.target.host }
      : cfg.target.kind === 'abstract'
        ? { ...cfg.target, name: Buffer.from(cfg.target.name) }
        : cfg.target;
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
  const limit = cfg.requests;
  const plen = cfg.payload.length;
  const payloads = Buffer.alloc(Math.max(1, plen * K));
  for (let j = 0; j < K; j++) payloads.set(cfg.payload, j * plen);
  const framer = new ReplyFramer(until, S);
  const check = cfg.expect ? new ContainsCheck(cfg.expect, S) : null;

  const slots: Slot[] = Array.from({ length: S }, (_, i) => ({
    i,
    socket: null,
    gen: 0,
    connecting: false,
    hasReq: false,
    starts: [],
    sentAt: [],
    connStart: 0,
    connectedAt: 0,
    got: 0,
    sample: cfg.expect ? Buffer.alloc(80) : null,
    sampleLen: 0,
    idleAt: 0,
    retryAt: 0,
    failures: 0,
    done: false,
  }));

  let tStart = Infinity;
  let tMeasure = Infinity;
  let tEnd = Infinity;
  let measuring = false;
  let started = false;
  let stopping = false;
  let pending = 0;
  let fatal: { code: ErrorCode; message: string } | null = null;
  let now = performance.now();
  let wakeLoop: () => void = () => {};

  const claim = (): boolean => {
    if (limit === 0 || !measuring) return true;
    if (Atomics.add(ctl, CTL_CLAIMED, 1) < limit) return true;
    stopping = true;
    return false;
  };

  const failOne = (t0: number, code: ErrorCode, errno: number, variant: number): void => {
    pending--;
    if (t0 >= tMeasure) stats.fail(code, errno, variant);
    else stats.warmup++;
  };

  const drop = (s: Slot): void => {
    s.gen++;
    s.connecting = false;
    if (s.socket) {
      s.socket.removeAllListeners();
      s.socket.on('error', () => {});
      s.socket.destroy();
      s.socket = null;
    }
    s.got = 0;
    s.sampleLen = 0;
    framer.reset(s.i);
    if (check) check.end(s.i);
  };

  const release = (s: Slot, pause: number): void => {
    s.hasReq = false;
    if (pause > 0) {
      s.retryAt = now + pause;
      return;
    }
    s.retryAt = 0;
    if (stopping) s.done = true;
    else if (!openLoop) {
      if (claim()) startOneshot(s, now);
      else s.done = true;
    }
  };

  const lose = (s: Slot, code: ErrorCode, errno: number, variant: number, pause: number): void => {
    drop(s);
    while (s.starts.length > 0) {
      failOne(s.starts.shift()!, code, errno, variant);
      s.sentAt.shift();
    }
    if (!persistent) return release(s, pause);
    if (!started) {
      fatal ??= { code, message: `opening the persistent connections: ${describeError(cfg, code, errno, variant)}` };
      s.done = true;
      wakeLoop();
      return;
    }
    if (stopping) s.done = true;
    else s.retryAt = now + pause;
    wakeLoop();
  };

  const completeOne = (s: Slot): void => {
    const t0 = s.starts.shift()!;
    s.sentAt.shift();
    pending--;
    const matched = check === null || check.end(s.i);
    if (!matched && t0 >= tMeasure && stats.wantsMismatchSample) stats.noteMismatch(decodeKeepingBytes(s.sample!, 0, s.sampleLen));
    s.sampleLen = 0;
    const empty = s.got === 0;
    s.got = 0;
    if (t0 >= tMeasure) {
      if (!matched) stats.fail('MISMATCH');
      else if (empty) stats.fail('CLOSED_EARLY', 0, NO_REPLY);
      else {
        stats.success(now - t0);
        if (!persistent) stats.exchanged(now - s.connectedAt);
      }
    } else stats.warmup++;
    if (!persistent) {
      drop(s);
      release(s, 0);
    }
    wakeLoop();
  };

  const sendBatch = (s: Slot, m: number, t0: number): void => {
    for (let j = 0; j < m; j++) {
      s.starts.push(t0);
      s.sentAt.push(now);
    }
    pending += m;
    const bytes = m * plen;
    if (measuring) stats.out(bytes);
    s.socket!.write(bytes === payloads.length ? payloads : payloads.subarray(0, bytes));
  };

  const onData = (s: Slot, chunk: Buffer): void => {
    now = performance.now();
    if (measuring) stats.in(chunk.length);
    if (s.starts.length === 0) return;
    const n = chunk.length;
    let pos = 0;
    let done = 0;
    while (pos < n && s.starts.length > 0) {
      const end = framer.scan(s.i, chunk, pos, n);
      const segEnd = end < 0 ? n : end;
      if (check) {
        check.feed(s.i, chunk, pos, segEnd);
        if (s.sampleLen < 80) s.sampleLen += chunk.copy(s.sample!, s.sampleLen, pos, Math.min(segEnd, pos + 80 - s.sampleLen));
      }
      s.got += segEnd - pos;
      if (end < 0) break;
      completeOne(s);
      done++;
      if (!persistent) return;
      pos = end;
    }
    if (idleRule && s.starts.length > 0) s.idleAt = now + idleMs;
    if (persistent && done > 0 && !openLoop && !stopping) {
      let m = 0;
      while (m < done && claim()) m++;
      if (m > 0) sendBatch(s, m, now);
    }
  };

  const onConnected = (s: Slot, socket: net.Socket): void => {
    now = performance.now();
    s.socket = socket;
    s.connecting = false;
    s.connectedAt = now;
    const g = s.gen;
    socket.setNoDelay?.(true);
    socket.on('data', (c: Buffer) => {
      if (s.gen === g) onData(s, c);
    });
    socket.on('end', () => {
      if (s.gen !== g) return;
      now = performance.now();
      if (!persistent && s.hasReq && (eofRule || idleRule)) return completeOne(s);
      lose(s, 'CLOSED_EARLY', 0, s.got > 0 ? PARTIAL_REPLY : NO_REPLY, 0);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (s.gen !== g) return;
      now = performance.now();
      const reset = err.code === 'ECONNRESET' || err.code === 'EPIPE';
      lose(s, reset ? 'RESET' : 'IO_ERROR', 0, s.got > 0 ? PARTIAL_REPLY : NO_REPLY, ERROR_PAUSE_MS);
    });
    if (!persistent) {
      if (s.starts[0] >= tMeasure) stats.connected(now - s.connStart);
      s.sentAt[0] = now;
      if (plen > 0) {
        if (measuring) stats.out(plen);
        socket.write(cfg.payload);
      }
      if (cfg.halfClose) socket.end();
      return;
    }
    stats.connected(now - s.connStart);
    s.failures = 0;
    if (!started || stopping || openLoop) return;
    let m = 0;
    while (m < K && claim()) m++;
    if (m > 0) sendBatch(s, m, now);
  };

  const connect = (s: Slot): void => {
    if (persistent && started) stats.reconnecting();
    s.connecting = true;
    s.connStart = now;
    s.retryAt = 0;
    const g = ++s.gen;
    openConnection(target, { connectTimeout: cfg.connectTimeoutMs }).then(
      (socket) => {
        if (s.gen !== g) return void socket.destroy();
        onConnected(s, socket);
      },
      (err: unknown) => {
        if (s.gen !== g) return;
        now = performance.now();
        s.connecting = false;
        const code: ErrorCode = err instanceof UdsError ? err.code : 'IO_ERROR';
        if (err instanceof UdsError && !fatal) stats.noteConnectMessage(code, err.message);
        if (err instanceof UdsError && !started && persistent) fatal ??= { code, message: `opening the persistent connections: ${err.message}` };
        // A failed reopen is an error of the run (the server is gone) and backs off.
        const pause = persistent && started ? stats.reconnectFailed(measuring, ++s.failures, code) : ERROR_PAUSE_MS;
        lose(s, code, 0, NO_REPLY, pause);
      },
    );
  };

  const startOneshot = (s: Slot, t0: number): void => {
    s.hasReq = true;
    pending++;
    s.starts.push(t0);
    s.sentAt.push(now);
    connect(s);
  };

  const scan = (): void => {
    for (const s of slots) {
      if (s.done) continue;
      if (s.socket && s.starts.length > 0) {
        if (idleRule && s.got > 0 && now >= s.idleAt) {
          completeOne(s);
          if (persistent && !openLoop && !stopping && claim()) sendBatch(s, 1, now);
          continue;
        }
        if (now - s.sentAt[0] >= cfg.timeoutMs) {
          lose(s, eofRule && s.got > 0 ? 'NEVER_CLOSED' : 'REPLY_TIMEOUT', 0, s.got > 0 ? PARTIAL_REPLY : NO_REPLY, 0);
        }
      } else if (!s.socket && !s.connecting && s.retryAt > 0 && now >= s.retryAt) {
        if (persistent) {
          if (stopping) s.done = true;
          else connect(s);
        } else release(s, 0);
      }
    }
  };

  // ---- setup
  if (persistent) {
    for (const s of slots) connect(s);
    const deadline = performance.now() + cfg.connectTimeoutMs + 1_000;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (fatal || slots.every((s) => s.socket !== null) || performance.now() > deadline || Atomics.load(ctl, CTL_STOP) === ABORT) {
          clearInterval(timer);
          resolve();
        }
      }, 2);
    });
    if (!fatal && !slots.every((s) => s.socket !== null)) {
      fatal = { code: 'CONNECT_TIMEOUT', message: `${cfg.target.display}: could not open all ${S} connections within ${cfg.connectTimeoutMs}ms` };
    }
    if (fatal) {
      for (const s of slots) drop(s);
      io.post({ type: 'fatal', code: fatal.code, message: fatal.message });
      return;
    }
  }
  io.post({ type: 'ready' });
  tStart = await io.waitGo();
  started = true;
  tMeasure = tStart + cfg.warmupMs;
  tEnd = cfg.durationMs < 0 ? Infinity : tMeasure + cfg.durationMs;
  const interval = openLoop ? 1000 / cfg.rate : 0;
  const scheduledAt = (k: number): number => tStart + cfg.phaseMs + k * interval;
  let schedIdx = 0;
  let startedIdx = 0;
  let second = 0;
  let nextTick = Infinity;
  let cursor = 0;

  await new Promise<void>((r) => setTimeout(r, Math.max(0, tStart - performance.now())));
  while ((now = performance.now()) < tStart); // timers have 1 ms granularity
  const beginMeasuring = (): void => {
    measuring = true;
    stats.begin();
    nextTick = tMeasure + 1000;
  };
  if (now >= tMeasure) beginMeasuring();
  if (!openLoop) {
    for (const s of slots) {
      if (!claim()) break;
      if (persistent) {
        let m = 1;
        while (m < K && claim()) m++;
        sendBatch(s, m, now);
      } else startOneshot(s, now);
    }
  }

  const free = (s: Slot): boolean =>
    !s.done && (persistent ? s.socket !== null && s.starts.length < K : !s.hasReq && s.retryAt === 0);

  let end = 0;
  await new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const step = (): void => {
      timer = undefined;
      now = performance.now();
      if (!measuring && now >= tMeasure) beginMeasuring();
      const stop = Atomics.load(ctl, CTL_STOP);
      if (stop === ABORT) {
        if (measuring) stats.abandoned += pending;
        end = now;
        return resolve();
      }
      if (!stopping && (stop !== RUN || now >= tEnd)) stopping = true;
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
        while (startedIdx < schedIdx) {
          let found = -1;
          for (let n = 0; n < S; n++) {
            cursor = cursor + 1 === S ? 0 : cursor + 1;
            if (free(slots[cursor])) {
              found = cursor;
              break;
            }
          }
          if (found < 0) break;
          const t0 = scheduledAt(startedIdx++);
          if (t0 >= tMeasure && now - t0 > 1) stats.late++;
          if (persistent) sendBatch(slots[found], 1, t0);
          else startOneshot(slots[found], t0);
        }
      }
      scan();
      if (stopping) {
        if (openLoop && startedIdx < schedIdx) {
          for (let k = startedIdx; k < schedIdx; k++) if (scheduledAt(k) >= tMeasure) stats.unsent++;
          startedIdx = schedIdx;
        }
        if (pending === 0) {
          end = now;
          return resolve();
        }
      }
      while (measuring && now >= nextTick) {
        io.post(stats.tick(second++, 1000));
        nextTick += 1000;
      }
      let next = Math.min(nextTick, now + 10);
      if (!stopping && openLoop) next = Math.min(next, scheduledAt(schedIdx));
      if (!measuring) next = Math.min(next, tMeasure);
      timer = setTimeout(step, Math.max(0, next - performance.now()));
    };
    wakeLoop = () => {
      if (stopping && pending === 0 && timer) {
        clearTimeout(timer);
        timer = setTimeout(step, 0);
      }
    };
    step();
  });

  end = Math.max(end, tMeasure);
  if (measuring) {
    const tickStart = tMeasure + second * 1000;
    if (end > tickStart) io.post(stats.tick(second, end - tickStart));
  }
  for (const s of slots) drop(s);
  io.post(stats.done(measuring ? end - tMeasure : 0));
}
