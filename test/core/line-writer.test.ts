/** LineBytes: serve's log lines encoded straight into buffers, handed over whole (take) or when a buffer fills (full). */
import { describe, expect, it } from 'vitest';
import { LineBytes } from '../../src/core/line-writer.js';

/** A LineBytes whose full buffers and taken lines are gathered as copies, in order. */
function sink() {
  const chunks: Buffer[] = [];
  const log = new LineBytes((lines) => chunks.push(Buffer.from(lines)));
  const flush = () => {
    const rest = log.take();
    if (rest) chunks.push(Buffer.from(rest));
  };
  return { log, flush, text: () => Buffer.concat(chunks).toString('utf8'), writes: () => chunks.length, chunks: () => chunks };
}

const line = (log: LineBytes, text: string) => {
  log.text(text);
  log.end();
};

describe('LineBytes', () => {
  it('lines that fit one buffer wait for take(): every line in order with its newline', () => {
    const s = sink();
    for (let i = 0; i < 1000; i++) line(s.log, `line ${i}`);
    expect(s.writes()).toBe(0);
    s.flush();
    expect(s.writes()).toBe(1);
    line(s.log, 'next');
    s.flush();
    expect(s.text()).toBe([...Array.from({ length: 1000 }, (_, i) => `line ${i}`), 'next'].join('\n') + '\n');
  });

  it('multi-byte text, lines over the 64 KiB buffer, and a full buffer mid-way lose nothing', () => {
    const s = sink();
    const lines = ['é☃🙂 "quoted"', 'x'.repeat(200_000), ...Array.from({ length: 3000 }, (_, i) => `${i} ${'ü'.repeat(40)}`), '\ud800 lone surrogate'];
    for (const l of lines) line(s.log, l);
    s.flush();
    expect(s.text()).toBe(lines.map((l) => Buffer.from(l, 'utf8').toString('utf8')).join('\n') + '\n');
    expect(s.writes()).toBeGreaterThanOrEqual(2); // the buffer went out when the big line did not fit
  });

  it('pieces: bytes, numbers as String(n) writes them, text; a line never split across buffers', () => {
    const s = sink();
    const nums = [0, 7, 9, 10, 99, 100, 12345, 2 ** 53 - 1, 2 ** 53, -3, 1.5, NaN, Infinity, 1e21];
    for (const n of nums) {
      s.log.bytes(Buffer.from('n='));
      s.log.num(n);
      s.log.text(' ü');
      s.log.end();
    }
    // A line longer than the buffer, begun when the buffer is nearly full: it moves whole.
    s.log.text('y'.repeat(65_000));
    s.log.end();
    s.log.bytes(Buffer.from('x'.repeat(10_000)));
    s.log.num(42);
    s.log.end();
    s.flush();
    expect(s.text()).toBe(nums.map((n) => `n=${String(n)} ü\n`).join('') + 'y'.repeat(65_000) + '\n' + 'x'.repeat(10_000) + '42\n');
    for (const c of s.chunks()) expect(c.at(-1)).toBe(0x0a);
  });

  it('take with nothing finished gives null', () => {
    const s = sink();
    expect(s.log.take()).toBeNull();
    s.log.text('half a line');
    expect(s.log.take()).toBeNull();
  });
});
