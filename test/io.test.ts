/** lineBuffer: serve's log writer (lines encoded straight into buffers, one write per event-loop turn). */
import { Writable } from 'node:stream';
import { setImmediate as turn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { lineBuffer } from '../src/io.js';

function sink() {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk)); // a copy: what the stream had at write time
      setTimeout(cb, 1); // a slow pipe: the buffer must not be reused before this
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8'), writes: () => chunks.length, chunks: () => chunks };
}

describe('lineBuffer', () => {
  it('one write per event-loop turn, every line in order with its newline', async () => {
    const s = sink();
    const log = lineBuffer(s.stream);
    for (let i = 0; i < 1000; i++) log.line(`line ${i}`);
    await turn();
    expect(s.writes()).toBe(1);
    log.line('next turn');
    await log.flush();
    expect(s.text()).toBe([...Array.from({ length: 1000 }, (_, i) => `line ${i}`), 'next turn'].join('\n') + '\n');
  });

  it('multi-byte text, lines over the 64 KiB buffer, and a full buffer mid-turn lose nothing', async () => {
    const s = sink();
    const log = lineBuffer(s.stream);
    const lines = ['é☃🙂 "quoted"', 'x'.repeat(200_000), ...Array.from({ length: 3000 }, (_, i) => `${i} ${'ü'.repeat(40)}`), '\ud800 lone surrogate'];
    for (const l of lines) log.line(l);
    await log.flush();
    await turn();
    expect(s.text()).toBe(lines.map((l) => Buffer.from(l, 'utf8').toString('utf8')).join('\n') + '\n');
    expect(s.writes()).toBeGreaterThanOrEqual(2); // the buffer went out when the big line did not fit
  });

  it('pieces: bytes, numbers as String(n) writes them, text; a line never split across writes', async () => {
    const s = sink();
    const log = lineBuffer(s.stream);
    const nums = [0, 7, 9, 10, 99, 100, 12345, 2 ** 53 - 1, 2 ** 53, -3, 1.5, NaN, Infinity, 1e21];
    for (const n of nums) {
      log.bytes(Buffer.from('n='));
      log.num(n);
      log.text(' ü');
      log.end();
    }
    // A line longer than the buffer, begun when the buffer is nearly full: it moves whole.
    log.text('y'.repeat(65_000));
    log.end();
    log.bytes(Buffer.from('x'.repeat(10_000)));
    log.num(42);
    log.end();
    await log.flush();
    await turn();
    expect(s.text()).toBe(nums.map((n) => `n=${String(n)} ü\n`).join('') + 'y'.repeat(65_000) + '\n' + 'x'.repeat(10_000) + '42\n');
    for (const c of s.chunks()) expect(c.at(-1)).toBe(0x0a);
  });

  it('flush with nothing pending resolves at once', async () => {
    const s = sink();
    await lineBuffer(s.stream).flush();
    expect(s.writes()).toBe(0);
  });
});
