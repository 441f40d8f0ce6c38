/**
 * An engine thread's log records in the compact form shared.ts defines
 * (numbers in a Float64Array, previews in one byte array), gathered into
 * batches: a batch goes out when full (LOG_BATCH) or when the loop says so,
 * to the thread's own log (ThreadLog) and/or to the main thread. Apart from the
 * loop so that the record layout has one writer, readable and testable alone.
 */
import {
  R_AT,
  R_DURATION,
  R_GID,
  R_PID,
  R_UID,
  R_END,
  R_ERRNO,
  R_FIELDS,
  R_ID,
  R_IN,
  R_OUT,
  R_REASON,
  R_REP_LEN,
  R_REQUESTS,
  R_REQ_LEN,
  R_SEQ,
} from './shared.js';

export const LOG_BATCH = 512;

/** Copy bytes: a loop for the short copies a request costs (no subarray view to allocate), set() for long ones. */
export function copyBytes(src: Uint8Array, from: number, dst: Uint8Array, to: number, len: number): void {
  if (len <= 64) for (let k = 0; k < len; k++) dst[to + k] = src[from + k];
  else dst.set(src.subarray(from, from + len), to);
}

/** Where a full batch goes: `nums` is the batch's own (the sink may keep or transfer it), `text` valid for the call. */
export type BatchSink = (count: number, nums: Float64Array, text: Uint8Array) => void;

export class RecordBatch {
  /** Records in the batch. */
  count = 0;
  /** When the batch's first record came (the loop's clock): it goes out LOG_FLUSH_MS later at most. */
  firstAt = 0;
  private nums = new Float64Array(LOG_BATCH * R_FIELDS);
  private text = new Uint8Array(16 * 1024);
  private textLen = 0;

  /**
   * @param sink takes each batch
   * @param keepsNums whether the sink keeps `nums` (transfers it): a new array is made for the next batch
   */
  constructor(
    private readonly sink: BatchSink,
    private readonly keepsNums: boolean,
  ) {}

  /** Start a record: its fixed fields; previews follow (preview()), then end(). */
  begin(now: number, id: number, at: number, inB: number, outB: number, reqs: number, durationUs: number, end: number, reason: number, errno: number, seq: number): void {
    if (this.count === 0) this.firstAt = now;
    const n = this.nums;
    const o = this.count * R_FIELDS;
    n[o + R_ID] = id;
    n[o + R_AT] = at;
    n[o + R_IN] = inB;
    n[o + R_OUT] = outB;
    n[o + R_REQUESTS] = reqs;
    n[o + R_DURATION] = durationUs;
    n[o + R_END] = end;
    n[o + R_REASON] = reason;
    n[o + R_ERRNO] = errno;
    n[o + R_SEQ] = seq;
    n[o + R_REQ_LEN] = -1;
    n[o + R_REP_LEN] = -1;
    n[o + R_PID] = 0;
  }

  /** The current record's client process (SO_PEERCRED). */
  peer(pid: number, uid: number, gid: number): void {
    const o = this.count * R_FIELDS;
    this.nums[o + R_PID] = pid;
    this.nums[o + R_UID] = uid;
    this.nums[o + R_GID] = gid;
  }

  /** The current record's request (which 0) or reply (1) preview: src[start, start + len); len -1: none. */
  preview(which: 0 | 1, src: Uint8Array | null, start: number, len: number): void {
    this.nums[this.count * R_FIELDS + (which === 0 ? R_REQ_LEN : R_REP_LEN)] = len;
    if (src === null || len <= 0) return;
    if (this.textLen + len > this.text.length) {
      const b = new Uint8Array(Math.max(this.text.length * 2, this.textLen + len));
      b.set(this.text.subarray(0, this.textLen));
      this.text = b;
    }
    copyBytes(src, start, this.text, this.textLen, len);
    this.textLen += len;
  }

  /** The record is complete; a full batch goes out now. */
  end(): void {
    if (++this.count === LOG_BATCH) this.flush();
  }

  /** Send what there is. */
  flush(): void {
    if (this.count === 0) return;
    this.sink(this.count, this.nums, this.text.subarray(0, this.textLen));
    if (this.keepsNums) this.nums = new Float64Array(LOG_BATCH * R_FIELDS);
    this.count = 0;
    this.textLen = 0;
  }
}
