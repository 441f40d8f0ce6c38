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
  return { stream, text: () => Buffer.concat(chunks).toString('utf8'), writes: () => chunks.length };
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

  it('flush with nothing pending resolves at once', async () => {
    const s = sink();
    await lineBuffer(s.stream).flush();
    expect(s.writes()).toBe(0);
  });
});
