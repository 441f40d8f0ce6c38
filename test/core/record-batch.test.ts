/**
 * The epoll engine's log records, written by RecordBatch (the thread) and read
 * back by RecordReader (the main thread / ThreadLog): one layout, both ends.
 */
import { describe, expect, it } from 'vitest';
import { LOG_BATCH, RecordBatch } from '../../src/core/serve/epoll/record-batch.js';
import { END_CODE, REASON_IDLE, REASON_NONE, RecordReader } from '../../src/core/serve/epoll/shared.js';
import type { ConnectionLog, RequestLog } from '../../src/core/serve/protocol.js';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('RecordBatch -> RecordReader', () => {
  it('a connection record and a request record come back as written, previews and reasons included', () => {
    const batches: { count: number; nums: Float64Array; text: Uint8Array }[] = [];
    const batch = new RecordBatch((count, nums, text) => batches.push({ count, nums, text: text.slice() }), true);
    const at = Date.parse('2026-11-30T12:00:00.000Z');
    batch.begin(1, 7, at, 5, 3, 1, 1500, END_CODE['idle-timeout'], REASON_IDLE, 0, 0);
    batch.preview(0, bytes('xhello'), 1, 5);
    batch.preview(1, bytes('ok\n'), 0, 3);
    batch.end();
    batch.begin(2, 8, at, 4, 2, 0, 0, 0, REASON_NONE, 0, 2);
    batch.preview(0, bytes('abc\n'), 0, 4);
    batch.preview(1, bytes('k\n'), 0, 2);
    batch.end();
    expect(batch.count).toBe(2);
    expect(batch.firstAt).toBe(1);
    batch.flush();
    expect(batch.count).toBe(0);
    expect(batches).toHaveLength(1);
    const conns: ConnectionLog[] = [];
    const reqs: RequestLog[] = [];
    new RecordReader({ idleMs: 300, maxBytes: 10, maxConns: 2 }).read(
      batches[0].count,
      batches[0].nums,
      batches[0].text,
      (l) => conns.push(l),
      undefined,
      (r) => reqs.push(r),
    );
    expect(conns).toEqual([
      { id: 7, at: '2026-11-30T12:00:00.000Z', bytesIn: 5, bytesOut: 3, requests: 1, request: 'hello', reply: 'ok\n', durationUs: 1500, end: 'idle-timeout', reason: 'no data for 300ms' },
    ]);
    expect(reqs).toEqual([{ id: 8, seq: 2, at: '2026-11-30T12:00:00.000Z', bytesIn: 4, bytesOut: 2, request: 'abc\n', reply: 'k\n' }]);
  });

  it('a full batch goes out by itself, and the sink that keeps the numbers gets a fresh array each time', () => {
    const seen: Float64Array[] = [];
    const batch = new RecordBatch((count, nums) => {
      expect(count).toBe(LOG_BATCH);
      seen.push(nums);
    }, true);
    for (let k = 0; k < 2 * LOG_BATCH; k++) {
      batch.begin(0, k, 0, 0, 0, 0, 0, 0, REASON_NONE, 0, 0);
      batch.end();
    }
    expect(seen).toHaveLength(2);
    expect(seen[0]).not.toBe(seen[1]);
    expect(batch.count).toBe(0);
  });
});
