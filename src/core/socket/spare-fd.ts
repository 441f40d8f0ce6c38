/**
 * A second descriptor of a connected socket, to read what the peer sent last
 * after node:net has given the socket up. node:net destroys a socket when a
 * write fails (EPIPE: the peer closed while we were still sending) and closes
 * its descriptor, with the peer's last bytes still unread in the receive
 * queue (a server's "413 too large", "bye"). The spare keeps the socket open
 * until we have read them.
 */
import { MSG_DONTWAIT } from './ffi.js';
import { socketFd } from './net-fd.js';
import { libc, sessionLibc } from './libc.js';

/** At most this much is read from the spare: the receive queue's worth, bounded whatever it holds. */
const MAX_DRAIN = 4 * 1024 * 1024;

export class SpareFd {
  private constructor(private fd: number) {}

  /** A spare of a connected node:net socket, or undefined where there is none to be had (no fd, no koffi). */
  static of(socket: object): SpareFd | undefined {
    try {
      const fd = socketFd(socket);
      if (typeof fd !== 'number' || fd < 0) return undefined;
      const spare = sessionLibc().dup(fd);
      return spare >= 0 ? new SpareFd(spare) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Read what is queued, without waiting, into `buf` chunk by chunk (`onChunk` gets a view valid during the call), then close. */
  drain(buf: Buffer, onChunk: (chunk: Buffer) => void): void {
    if (this.fd < 0) return;
    try {
      const c = libc();
      let total = 0;
      while (total < MAX_DRAIN) {
        const n = c.recv(this.fd, buf, buf.length, MSG_DONTWAIT);
        if (n <= 0) break;
        total += n;
        onChunk(buf.subarray(0, n));
      }
    } finally {
      this.close();
    }
  }

  close(): void {
    if (this.fd < 0) return;
    try {
      libc().close(this.fd);
    } catch {
      // nothing more to do
    }
    this.fd = -1;
  }
}
