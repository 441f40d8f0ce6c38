/**
 * The tap's log renderers (src/render/tap.ts): a chunk's line, its hex dump
 * and its JSON record, and a connection's end line.
 */
import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import type { LineWriter } from '../src/core/line-writer.js';
import type { TapConnectionLog } from '../src/core/serve/tap.js';
import type { TrafficLog } from '../src/core/serve/tap-records.js';
import { tapConnectionJsonRenderer, tapConnectionLineRenderer, trafficJsonRenderer, trafficLineRenderer } from '../src/render/tap.js';

const c = new Chalk({ level: 0 });

/** A renderer's output as lines. */
function lines<T>(render: (log: T, out: LineWriter) => void, log: T): string[] {
  let cur = '';
  const out: string[] = [];
  const decoder = new TextDecoder();
  render(log, {
    bytes: (b) => (cur += decoder.decode(b)),
    num: (n) => (cur += String(n)),
    text: (s) => (cur += s),
    end: () => {
      out.push(cur);
      cur = '';
    },
  });
  return out;
}

const base = { id: 7, at: '2026-12-01T00:00:00.000Z', sinceUs: 1500 };

describe('traffic lines', () => {
  it('a text chunk: arrow, size, offset after the first, escaped preview, the note', () => {
    const log: TrafficLog = { ...base, from: 'upstream', kind: 'data', bytes: 9, offset: 16, data: Buffer.from('hi\x1b[2J\u202e\n'), note: 'delayed 1000ms' };
    expect(lines(trafficLineRenderer(c), log)).toEqual(['2026-12-01T00:00:00.000Z #7 +1.50ms < 9B @16 "hi\\x1b[2J\\u202e\\n" (delayed 1000ms)']);
  });

  it('--hexdump: a binary chunk as hexdump -C lines from its offset in the stream, the bytes not shown counted', () => {
    const data = Buffer.alloc(512, 0);
    const out = lines(trafficLineRenderer(c, { hexdump: true }), { ...base, from: 'client', kind: 'data', bytes: 70_000, offset: 32, data } as TrafficLog);
    expect(out[0]).toMatch(/> 70000B @32 binary$/);
    expect(out[1]).toBe('    00000020  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|');
    expect(out).toHaveLength(1 + 16 + 1);
    expect(out.at(-1)).toBe(`    … ${70_000 - 256} more bytes`);
  });

  it('without --hexdump a binary chunk is an escaped preview', () => {
    const out = lines(trafficLineRenderer(c), { ...base, from: 'client', kind: 'data', bytes: 3, data: Buffer.from([0, 0xff, 1]) } as TrafficLog);
    expect(out).toEqual(['2026-12-01T00:00:00.000Z #7 +1.50ms > 3B "\\x00\\xff\\x01"']);
  });

  it('an error names its typed code and errno', () => {
    const out = lines(trafficLineRenderer(c), { ...base, from: 'upstream', kind: 'error', code: 'REFUSED', errno: 'ECONNREFUSED', note: 'x: refused; closing the client' } as TrafficLog);
    expect(out).toEqual(['2026-12-01T00:00:00.000Z #7 +1.50ms upstream error REFUSED ECONNREFUSED (x: refused; closing the client)']);
  });

  it('JSON: text for text, base64 for binary, truncated when the chunk was longer than its preview', () => {
    const [t] = lines(trafficJsonRenderer(1), { ...base, from: 'client', kind: 'data', bytes: 3, offset: 0, data: Buffer.from('hi\n') } as TrafficLog);
    expect(JSON.parse(t)).toEqual({ event: 'traffic', pid: 1, ...base, from: 'client', kind: 'data', bytes: 3, offset: 0, text: 'hi\n' });
    const [b] = lines(trafficJsonRenderer(1), { ...base, from: 'upstream', kind: 'data', bytes: 600, data: Buffer.from([0, 1, 2]) } as TrafficLog);
    expect(JSON.parse(b)).toMatchObject({ base64: 'AAEC', truncated: true });
    expect(JSON.parse(b).text).toBeUndefined();
  });
});

describe("a relayed connection's end", () => {
  const log: TapConnectionLog = {
    id: 3,
    at: '2026-12-01T00:00:00.000Z',
    bytesIn: 15,
    bytesOut: 16,
    requests: 1,
    request: 'hello\udcff\n',
    reply: 'OK\n',
    durationUs: 2_100,
    end: 'left-open',
    fault: 'never-close',
    reason: 'fault never-close',
    upstream: '/tmp/up.sock',
    first: 'upstream',
    clientEnd: 'closed',
    upstreamEnd: 'closed',
  };

  it('human: stamped at its end (accepted + duration), the end word, sizes, duration, who ended first, each side, the reason', () => {
    expect(lines(tapConnectionLineRenderer(c), log)).toEqual([
      '2026-12-01T00:00:00.002Z #3 left-open in=15B out=16B 2.10ms upstream first; client closed, upstream closed (fault never-close)',
    ]);
  });

  it('JSON: the record, bytes that were not UTF-8 as U+FFFD', () => {
    const obj = JSON.parse(lines(tapConnectionJsonRenderer(9), log)[0]);
    expect(obj).toMatchObject({ event: 'connection', pid: 9, id: 3, end: 'left-open', first: 'upstream', upstream: '/tmp/up.sock', request: 'hello\ufffd\n' });
  });
});

describe("the epoll relay's renderers (render/serve-thread.ts: loaded by its threads)", () => {
  it('are the net tap\'s: the same lines for the same records, human (--hexdump) and JSON, and a reused entry with unset fields renders as one without them', async () => {
    const { tapHumanLines, tapJsonLines } = await import('../src/render/serve-thread.js');
    const human = tapHumanLines(0, true);
    const json = tapJsonLines(42);
    const chunk: TrafficLog = { ...base, from: 'client', kind: 'data', bytes: 3, offset: 0, data: Buffer.from([0, 1, 2]) };
    expect(lines(human.traffic, chunk)).toEqual(lines(trafficLineRenderer(c, { hexdump: true }), chunk));
    // The relay hands one reused entry whose unset keys are present but undefined.
    const reused: TrafficLog = { ...base, from: 'upstream', kind: 'close', bytes: undefined, offset: undefined, data: undefined, code: undefined, errno: undefined, note: 'closed by the tap' };
    const plain: TrafficLog = { ...base, from: 'upstream', kind: 'close', note: 'closed by the tap' };
    expect(lines(json.traffic, reused)).toEqual(lines(trafficJsonRenderer(42), plain));
    expect(lines(human.traffic, reused)).toEqual(['2026-12-01T00:00:00.000Z #7 +1.50ms upstream closed (closed by the tap)']);
    const conn: TapConnectionLog = {
      id: 7,
      at: '2026-12-01T00:00:00.000Z',
      bytesIn: 3,
      bytesOut: 16,
      requests: 1,
      request: 'hi\n',
      reply: undefined,
      durationUs: 2100,
      end: 'closed',
      reason: undefined,
      upstream: '/run/app.sock',
      first: 'upstream',
      clientEnd: 'closed',
      upstreamEnd: 'closed',
    };
    expect(lines(json.connection, conn)).toEqual(lines(tapConnectionJsonRenderer(42), conn));
    expect(JSON.parse(lines(json.connection, conn)[0])).not.toHaveProperty('reply');
    expect(lines(human.connection, conn)).toEqual(lines(tapConnectionLineRenderer(c), conn));
    const dropped: string[] = [];
    human.dropped!(5, { bytes: () => {}, num: () => {}, text: (s) => dropped.push(s), end: () => {} });
    expect(dropped).toEqual(['udsctl serve: log: 5 lines dropped, reader too slow']);
  });
});
