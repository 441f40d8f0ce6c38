/**
 * The epoll relay's upstream connect, one attempt at a time (relay-thread.ts
 * acts on the outcome): a Unix upstream's connect completes or fails at once
 * on a non-blocking socket (EAGAIN: its backlog is full, retried with a
 * doubling back-off until --connect-timeout); TCP's completes on EPOLLOUT,
 * and SO_ERROR says how.
 */
import { AF_UNIX, E, IPPROTO_TCP, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, SO_ERROR, TCP_NODELAY } from '../../socket/ffi.js';
import type { EpollLibc } from '../../socket/libc.js';
import { ownFileCheck } from '../self-upstream.js';
import type { RelayTable } from './relay-table.js';
import type { RelayUpstream } from './shared.js';

/** A full Unix backlog is retried after this, doubling up to RETRY_MAX_MS, until --connect-timeout. */
export const RETRY_FIRST_MS = 1;
const RETRY_MAX_MS = 50;

/** start(): connected now. */
export const CONNECTED = 0;
/** start(): in progress (TCP): wait for EPOLLOUT, then done(). */
export const IN_PROGRESS = -1;
/** start(): the Unix backlog is full: try again at retryAt. */
export const RETRY = -2;
/** start(): the upstream path is this tap's own socket file: not connected, not relayed. */
export const SELF = -3;

export class UpstreamConnector {
  private readonly one = new Uint8Array(new Int32Array([1]).buffer);
  private readonly soErr = new Int32Array(1);
  private readonly soErrLen = new Uint32Array(1);
  private readonly soErrBytes = new Uint8Array(this.soErr.buffer);
  private readonly soErrLenBytes = new Uint8Array(this.soErrLen.buffer);

  /** Whether the upstream path leads to the tap's own socket file now (a stat a connect). */
  private readonly isSelf: (() => boolean) | null;

  constructor(
    private readonly sys: EpollLibc,
    private readonly up: RelayUpstream,
  ) {
    this.isSelf = up.path !== undefined && up.own ? ownFileCheck(up.path, up.own, sys) : null;
  }

  /** One attempt for slot i (its upstream fd set in t): CONNECTED, IN_PROGRESS, RETRY, or the errno (> 0) it failed with. */
  start(t: RelayTable, i: number, now: number): number {
    const sys = this.sys;
    // The upstream path became this tap's own socket (a symlink made since it started): no chain of relays to ourselves.
    if (this.isSelf?.()) return SELF;
    const ufd = sys.socket(this.up.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ufd < 0) return sys.errno();
    t.fd[2 * i + 1] = ufd;
    if (this.up.tcp) sys.setsockopt(ufd, IPPROTO_TCP, TCP_NODELAY, this.one, 4);
    const addr = this.up.addr;
    if (sys.connect(ufd, addr, addr.length) === 0) return CONNECTED;
    const e = sys.errno();
    if (e === E.EINPROGRESS || e === E.EINTR) return IN_PROGRESS;
    if (e === E.EAGAIN && this.up.family === AF_UNIX && now + t.retryMs[i] < t.deadline[i]) {
      // The upstream's backlog is full: a new socket later (this one is spent).
      sys.close(ufd);
      t.fd[2 * i + 1] = -1;
      t.retryAt[i] = now + t.retryMs[i];
      t.retryMs[i] = Math.min(RETRY_MAX_MS, t.retryMs[i] * 2);
      return RETRY;
    }
    // Refused, not found, backlog full past the deadline.
    return e;
  }

  /** TCP: the connect of upstream fd `ufd` completed (EPOLLOUT): 0, or the errno it failed with. */
  done(ufd: number): number {
    this.soErrLen[0] = 4;
    this.soErr[0] = 0;
    const r = this.sys.getsockopt(ufd, SOL_SOCKET, SO_ERROR, this.soErrBytes, this.soErrLenBytes);
    return r !== 0 ? this.sys.errno() : this.soErr[0];
  }
}
