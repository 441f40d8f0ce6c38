import net from 'node:net';
import { onTestFinished } from 'vitest';

/**
 * A bare net client for what exchange() does not do by design: several
 * request/reply rounds on one connection, or holding a connection open while
 * something else happens. Destroyed when the test ends; every read is bounded.
 */
export class RawClient {
  private buf = Buffer.alloc(0);
  private ended = false;
  private error?: Error;
  private wake?: () => void;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.wake?.();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake?.();
    });
    socket.on('error', (e) => {
      this.error = e;
      this.wake?.();
    });
  }

  /** Connect to a Unix path or a TCP { host, port }. */
  static connect(where: string | { host: string; port: number }, timeoutMs = 2_000): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = typeof where === 'string' ? net.connect({ path: where }) : net.connect(where);
      onTestFinished(() => void socket.destroy());
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`RawClient: connect did not complete within ${timeoutMs}ms`));
      }, timeoutMs);
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new RawClient(socket));
      });
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Half-close: shut down our write side. */
  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Read through the next newline (inclusive). */
  readLine(timeoutMs = 2_000): Promise<string> {
    return this.readWhen((b) => {
      const i = b.indexOf(0x0a);
      return i < 0 ? -1 : i + 1;
    }, timeoutMs).then((b) => b.toString());
  }

  /** Read exactly n bytes. */
  readBytes(n: number, timeoutMs = 2_000): Promise<Buffer> {
    return this.readWhen((b) => (b.length >= n ? n : -1), timeoutMs);
  }

  /** Everything until the peer closes, with `closed` false if it did not within timeoutMs. */
  async readToEnd(timeoutMs = 2_000): Promise<{ data: Buffer; closed: boolean; error?: Error }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && !this.error && Date.now() < deadline) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(0, deadline - Date.now()));
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
    this.wake = undefined;
    const data = this.buf;
    this.buf = Buffer.alloc(0);
    return { data, closed: this.ended, ...(this.error ? { error: this.error } : {}) };
  }

  private async readWhen(endAt: (b: Buffer) => number, timeoutMs: number): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const n = endAt(this.buf);
      if (n >= 0) {
        const out = this.buf.subarray(0, n);
        this.buf = this.buf.subarray(n);
        return out;
      }
      if (this.error) throw this.error;
      if (this.ended) throw new Error(`RawClient: peer closed; had ${JSON.stringify(this.buf.toString())}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`RawClient: read timed out after ${timeoutMs}ms; had ${JSON.stringify(this.buf.toString())}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
      this.wake = undefined;
    }
  }
}
