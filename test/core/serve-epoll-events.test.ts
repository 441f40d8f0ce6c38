/** The epoll engine's 'connection' events, in-process: records arrive in batches, listeners see each once. */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConnectionLog, exchange, parseTarget } from '../../src/index.js';
import { EpollServer } from '../../src/unstable.js';
import { tmpDir } from '../helpers/tmp-dir.js';

let server: EpollServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('EpollServer connection events', () => {
  it('on() sees every connection, once() only the first, though many arrive in one batch', async () => {
    // Records are made only for listeners there at listen(): attach them first.
    server = new EpollServer(parseTarget(join(tmpDir(), 's.sock')));
    const all: ConnectionLog[] = [];
    let onceCalls = 0;
    server.on('connection', (log) => all.push(log));
    server.once('connection', () => onceCalls++);
    await server.listen();
    const n = 40;
    const records = await Promise.all(Array.from({ length: n }, () => exchange(server!.address(), { payload: Buffer.from('hi') })));
    expect(records.every((r) => r.ok)).toBe(true);
    for (let i = 0; i < 100 && all.length < n; i++) await new Promise((r) => setTimeout(r, 20));
    expect(all).toHaveLength(n);
    expect(new Set(all.map((l) => l.id)).size).toBe(n);
    expect(all.every((l) => l.request === 'hi' && /^OK\+ at /.test(l.reply ?? '') && l.end === 'closed')).toBe(true);
    expect(onceCalls).toBe(1);
    expect(server.listenerCount('connection')).toBe(1);
  });
});
