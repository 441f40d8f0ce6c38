/**
 * serve's per-connection log renderers: built for speed (no object per line,
 * quoting once per distinct string), so checked against the obvious versions.
 */
import { Chalk } from 'chalk';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ConnectionLog } from '../src/core/serve/protocol.js';
import { LineBytes, type LineWriter } from '../src/core/line-writer.js';
import { connectionJsonRenderer, connectionLineRenderer } from '../src/render/serve.js';

/** A renderer's line as text, without its newline: a LineWriter that joins strings, the obvious way. */
const text = (render: (log: ConnectionLog, out: LineWriter) => void) => (log: ConnectionLog) => {
  const parts: string[] = [];
  const decoder = new TextDecoder();
  render(log, {
    bytes: (b) => parts.push(decoder.decode(b)),
    num: (n) => parts.push(String(n)),
    text: (s) => parts.push(s),
    end: () => {},
  });
  return parts.join('');
};

const ENDS = ['closed', 'client-closed', 'client-reset', 'reset', 'idle-timeout', 'max-bytes', 'over-max-conns', 'shutdown', 'error', 'left-open'] as const;

const logArb: fc.Arbitrary<ConnectionLog> = fc.record(
  {
    id: fc.nat(),
    at: fc.constantFrom('2026-11-27T03:00:00.000Z', '2026-11-27T03:00:01.000Z'),
    bytesIn: fc.nat(),
    bytesOut: fc.nat(),
    requests: fc.nat(),
    // Few distinct strings, so the same text comes again and again, and some with quotes, controls, non-ASCII.
    request: fc.oneof(fc.constantFrom('hi', 'PING\r\n', 'say "hi"\\'), fc.string({ unit: 'binary', maxLength: 300 })),
    reply: fc.oneof(fc.constantFrom('OK+ at 03:00:00\n', ''), fc.string({ unit: 'binary', maxLength: 300 })),
    durationUs: fc.nat(),
    end: fc.constantFrom(...ENDS),
    fault: fc.constantFrom('never-close', 'slow') as fc.Arbitrary<ConnectionLog['fault']>,
    reason: fc.string({ maxLength: 40 }),
  },
  { requiredKeys: ['id', 'at', 'bytesIn', 'bytesOut', 'requests', 'durationUs', 'end'] },
);

describe('serve log renderers', () => {
  it('JSON: the same text as JSON.stringify of the event, line after line', () => {
    fc.assert(
      fc.property(fc.array(logArb, { maxLength: 30 }), (logs) => {
        const render = text(connectionJsonRenderer(4242));
        for (const log of logs) {
          // The engines hand out the same string objects for the same bytes; so does this loop.
          expect(render(log)).toBe(JSON.stringify({ event: 'connection', pid: 4242, ...log }));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('JSON through the byte writer serve uses: the same bytes as JSON.stringify, line after line', () => {
    fc.assert(
      fc.property(fc.array(logArb, { maxLength: 30 }), (logs) => {
        const chunks: Buffer[] = [];
        const log = new LineBytes((lines) => chunks.push(Buffer.from(lines)));
        const render = connectionJsonRenderer(7);
        for (const l of logs) render(l, log);
        const rest = log.take();
        if (rest) chunks.push(rest);
        const want = logs.map((l) => JSON.stringify({ event: 'connection', pid: 7, ...l }) + '\n').join('');
        expect(Buffer.concat(chunks).toString('utf8')).toBe(Buffer.from(want, 'utf8').toString('utf8'));
      }),
      { numRuns: 200 },
    );
  });

  it('human: request and reply quoted and clipped at 40, "-" when absent, reason last', () => {
    const line = text(connectionLineRenderer(new Chalk({ level: 0 })));
    const base: ConnectionLog = { id: 7, at: '2026-11-27T03:00:00.000Z', bytesIn: 2, bytesOut: 16, requests: 1, durationUs: 1500, end: 'closed' };
    expect(line({ ...base, request: 'hi', reply: 'OK+ at 03:00:00\n' })).toBe(
      '2026-11-27T03:00:00.000Z #7 in=2B out=16B req="hi" reply="OK+ at 03:00:00\\n" 1.50ms closed',
    );
    const long = 'x'.repeat(100);
    expect(line({ ...base, request: long, end: 'max-bytes', reason: 'over 1 MiB' })).toBe(
      `2026-11-27T03:00:00.000Z #7 in=2B out=16B req="${'x'.repeat(37)}…" reply=- 1.50ms max-bytes (over 1 MiB)`,
    );
    // After a different string, the first one again: no stale quoting.
    expect(line({ ...base, request: 'hi' })).toMatch(/ req="hi" reply=- /);
  });

  it('human: the end is yellow when something went wrong, green otherwise', () => {
    const line = text(connectionLineRenderer(new Chalk({ level: 1 })));
    const base: ConnectionLog = { id: 1, at: 'x', bytesIn: 0, bytesOut: 0, requests: 0, durationUs: 1, end: 'closed' };
    expect(line(base)).toContain('\u001b[32mclosed\u001b[39m');
    expect(line({ ...base, end: 'left-open' })).toContain('\u001b[33mleft-open\u001b[39m');
    expect(line({ ...base, end: 'client-reset' })).toContain('\u001b[33mclient-reset\u001b[39m');
  });
});
