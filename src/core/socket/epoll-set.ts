/**
 * One epoll set and its event buffer, for both epoll engines (serve's threads,
 * bench's transport): registration with a slot and its generation packed into
 * the event's data (so an event for a closed connection whose slot was reused
 * is recognised), and bounded waits. The buffers are made once; a wait
 * allocates nothing.
 */
import { UdsError } from '../errors.js';
import { EPOLL_CLOEXEC, EPOLL_CTL_DEL, EPOLL_DATA_OFFSET, EPOLL_EVENT_SIZE, errnoName } from './ffi.js';
import type { EpollLibc } from './libc.js';

export class EpollSet {
  readonly fd: number;
  private readonly evs: Uint8Array;
  private readonly evsView: DataView;
  private readonly ev = new Uint8Array(EPOLL_EVENT_SIZE);
  private readonly evView = new DataView(this.ev.buffer);

  constructor(
    private readonly sys: EpollLibc,
    maxEvents: number,
  ) {
    this.fd = sys.epollCreate(EPOLL_CLOEXEC);
    if (this.fd < 0) throw new UdsError('IO_ERROR', `epoll_create1: ${errnoName(sys.errno())}`);
    this.evs = new Uint8Array(EPOLL_EVENT_SIZE * maxEvents);
    this.evsView = new DataView(this.evs.buffer);
  }

  /** epoll_ctl ADD or MOD with `slot` and `gen` as the event's data; 0 or -1 (errno set). */
  ctl(op: number, fd: number, events: number, slot: number, gen: number): number {
    const v = this.evView;
    v.setUint32(0, events, true);
    v.setUint32(EPOLL_DATA_OFFSET, slot, true);
    v.setUint32(EPOLL_DATA_OFFSET + 4, gen, true);
    return this.sys.epollCtl(this.fd, op, fd, this.ev);
  }

  /** Take `fd` out of the set. */
  remove(fd: number): void {
    this.sys.epollCtl(this.fd, EPOLL_CTL_DEL, fd, this.ev);
  }

  /** Wait up to `ms` for events; returns how many (read them with slot/gen/events). */
  wait(max: number, ms: number): number {
    return this.sys.epollWait(this.fd, this.evs, max, ms);
  }

  /** Event k's slot. */
  slot(k: number): number {
    return this.evsView.getUint32(k * EPOLL_EVENT_SIZE + EPOLL_DATA_OFFSET, true);
  }

  /** Event k's generation. */
  gen(k: number): number {
    return this.evsView.getUint32(k * EPOLL_EVENT_SIZE + EPOLL_DATA_OFFSET + 4, true);
  }

  /** Event k's event bits. */
  events(k: number): number {
    return this.evsView.getUint32(k * EPOLL_EVENT_SIZE, true);
  }

  close(): void {
    this.sys.close(this.fd);
  }
}
