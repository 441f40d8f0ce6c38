/**
 * The reply's copies for a sink (exchange-sink.ts): a message larger than a
 * pooled buffer is copied whole (a 100 KiB seqpacket reply to a piped stdout
 * was cut to 64 KiB), and a buffer goes back to the pool only once its write
 * is done.
 */
import { describe, expect, it } from 'vitest';
import { CopyPool } from '../../src/core/exchange-sink.js';

describe('CopyPool', () => {
  it('a chunk larger than a pooled buffer is copied whole', () => {
    const pool = new CopyPool(true);
    const big = Buffer.alloc(100 * 1024, 7);
    const copy = pool.copy(big);
    expect(copy.equals(big)).toBe(true);
    expect(copy.buffer).not.toBe(big.buffer);
  });

  it('a recycling sink gets a buffer back only after its write completed, in order; a keeping sink gets fresh copies', () => {
    const pool = new CopyPool(true);
    const a = pool.copy(Buffer.from('a'));
    const big = pool.copy(Buffer.alloc(70 * 1024, 1));
    const b = pool.copy(Buffer.from('b'));
    expect(new Set([a.buffer, big.buffer, b.buffer]).size).toBe(3);
    pool.written(); // a's write done: its buffer is free again
    const c = pool.copy(Buffer.from('c'));
    expect(c.buffer).toBe(a.buffer);
    expect(b.toString()).toBe('b');
    pool.written(); // big's: not a pooled size, not kept
    pool.written(); // b's
    expect(pool.copy(Buffer.from('d')).buffer).toBe(b.buffer);

    const keeping = new CopyPool(false);
    const k1 = keeping.copy(Buffer.from('x'));
    keeping.written();
    keeping.copy(Buffer.from('y'));
    expect(k1.toString()).toBe('x');
  });
});
