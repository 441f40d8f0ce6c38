/**
 * An engine thread's side of the connection log: connection ids (taken from
 * the counter all threads share), the records of connections and --keep-alive
 * requests in the compact form (RecordBatch), and where the batches go: the
 * thread's own log (ThreadLog, ThreadConfig.logTo) and/or the main thread.
 */
import type { ConnTable } from './conn-table.js';
import { RecordBatch } from './record-batch.js';
import { PREVIEW, REASON_NONE, type ThreadConfig, type ThreadMessage } from './shared.js';
import { type LogRenderers, ThreadLog } from './thread-log.js';

/** Log records wait at most this long, or until a batch is full. */
export const LOG_FLUSH_MS = 50;

export type Post = (msg: ThreadMessage, transfer?: ArrayBuffer[]) => void;

export class ConnLog {
  /** Whether records are made at all (somebody reads them). */
  readonly on: boolean;
  private readonly batch: RecordBatch;
  private readonly tlog: ThreadLog | null;
  /** Records for the main thread. */
  private readonly posts: boolean;
  /**
   * Rendered here and nothing to send: the records of each loop turn are
   * rendered at its end, a few at a time, rather than 512 at once (a pause in
   * which nobody is accepted); ThreadLog batches the writes.
   */
  private readonly renderEachTurn: boolean;
  private readonly ids: BigInt64Array;
  private readonly idBlock: number;
  private readonly idBlockBig: bigint;
  private idNext = 0;
  private idEnd = 0;
  /** The loop's clock as of the last record or turn: when a batch that goes out went. */
  private now: number;

  constructor(cfg: ThreadConfig, ctl: Int32Array, post: Post, render: LogRenderers | undefined, now: number) {
    this.now = now;
    this.tlog = cfg.logTo && render ? new ThreadLog(cfg.logTo.fd, render, ctl, cfg, (message) => post({ type: 'warning', message }), now) : null;
    this.posts = cfg.log;
    this.on = this.posts || this.tlog !== null;
    this.renderEachTurn = this.tlog !== null && !this.posts;
    const tlog = this.tlog;
    const posts = this.posts;
    this.batch = new RecordBatch((count, nums, text) => {
      // Rendered here (logTo), and/or sent to the main thread (which then owns nums).
      if (tlog) tlog.add(count, nums, text, this.now);
      if (posts) {
        const copy = text.slice();
        post({ type: 'logs', count, nums, text: copy }, [nums.buffer as ArrayBuffer, copy.buffer as ArrayBuffer]);
      }
    }, posts);
    this.ids = new BigInt64Array(cfg.ids);
    // Ids are taken from the shared counter in blocks when this thread is the only one (a BigInt
    // atomic per connection was a visible cost); with several, one at a time, so ids keep accept order.
    this.idBlock = cfg.threads === 1 ? 1024 : 1;
    this.idBlockBig = BigInt(this.idBlock);
  }

  /** The next connection id. */
  nextId(): number {
    if (this.idNext === this.idEnd) {
      this.idNext = Number(Atomics.add(this.ids, 0, this.idBlockBig));
      this.idEnd = this.idNext + this.idBlock;
    }
    return this.idNext++;
  }

  /** The record of connection `i` of the table, which has just ended. */
  connection(now: number, t: ConnTable, i: number): void {
    this.now = now;
    const b = this.batch;
    b.begin(now, t.idOf[i], t.wallAt[i], t.bytesIn[i], t.bytesOut[i], t.requests[i], Math.round((now - t.startAt[i]) * 1000), t.endOf[i], t.reasonOf[i], t.errnoOf[i], 0);
    if (t.peerPid[i] > 0) b.peer(t.peerPid[i], t.peerUid[i], t.peerGid[i]);
    b.preview(0, t.reqPrev, i * PREVIEW, t.reqLen[i]);
    const ref = t.repRef[i];
    if (ref !== null) b.preview(1, ref, 0, Math.min(ref.length, PREVIEW));
    else b.preview(1, t.repPrev, i * PREVIEW, t.repLen[i]);
    b.end();
  }

  /** The record of a connection closed at once, without a slot (--max-conns). */
  refused(now: number, wall: number, end: number, reason: number): void {
    this.now = now;
    this.batch.begin(now, this.nextId(), wall, 0, 0, 0, 0, end, reason, 0, 0);
    this.batch.end();
  }

  /** --keep-alive: request `seq` of connection `id` (src[start, end)) and its reply (body[bStart, bStart + bLen)). */
  request(now: number, wall: number, id: number, seq: number, src: Uint8Array, start: number, end: number, body: Uint8Array, bStart: number, bLen: number): void {
    this.now = now;
    const b = this.batch;
    b.begin(now, id, wall, end - start, bLen, 0, 0, 0, REASON_NONE, 0, seq);
    b.preview(0, src, start, Math.min(end - start, PREVIEW));
    b.preview(1, body, bStart, Math.min(bLen, PREVIEW));
    b.end();
  }

  /** When the loop must next turn for the log's sake (Infinity: nothing waits). */
  dueAt(): number {
    let at = this.batch.count > 0 ? this.batch.firstAt + LOG_FLUSH_MS : Infinity;
    if (this.tlog && this.tlog.dueAt() < at) at = this.tlog.dueAt();
    return at;
  }

  /** End of a loop turn: send the batch when due, write what the thread log holds. */
  turn(now: number): void {
    this.now = now;
    const b = this.batch;
    if (b.count > 0 && (this.renderEachTurn || now - b.firstAt >= LOG_FLUSH_MS)) b.flush();
    this.tlog?.write(now);
  }

  /** The thread is ending: everything out. */
  finish(now: number): void {
    this.now = now;
    this.batch.flush();
    this.tlog?.finish(now);
  }
}
