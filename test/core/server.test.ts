import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FAULTS, FAULT_HELP, READ_MODES, type RequestLog, defaultReply, exchange, parseEndRule } from '../../src/index.js';
import { killChildren } from '../helpers/children.js';
import { OK_REPLY_RE } from '../helpers/peers.js';
import { RawClient } from '../helpers/raw-client.js';
import { collectLogs, serve, sleep, tcpAnyPort } from '../helpers/servers.js';
import { tmpDir } from '../helpers/tmp-dir.js';

afterEach(killChildren);

const hi = Buffer.from('hi\n');
const line = parseEndRule('line');

describe('startServer(): replies', () => {
  it('replies `OK+ at HH:MM:SS\\n` in local time by default, then closes', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path);
    const r = await exchange(path, { payload: hi });
    expect(r.ok).toBe(true);
    expect(r.reply.toString()).toMatch(OK_REPLY_RE);
    expect(r.end).toBe('closed');
  });

  it('defaultReply() formats a given time with two-digit fields', () => {
    expect(defaultReply(new Date(2024, 0, 2, 3, 4, 5)).toString()).toBe('OK+ at 03:04:05\n');
    expect(defaultReply(new Date(2024, 0, 2, 23, 59, 9)).toString()).toBe('OK+ at 23:59:09\n');
  });

  it('--reply text gets a newline unless it already ends with one', async () => {
    const dir = tmpDir();
    await serve(join(dir, 'a.sock'), { reply: Buffer.from('PONG') });
    await serve(join(dir, 'b.sock'), { reply: Buffer.from('PONG\n') });
    await serve(join(dir, 'c.sock'), { reply: Buffer.from('two\nlines\n') });
    expect((await exchange(join(dir, 'a.sock'), { payload: hi })).reply.toString()).toBe('PONG\n');
    expect((await exchange(join(dir, 'b.sock'), { payload: hi })).reply.toString()).toBe('PONG\n');
    expect((await exchange(join(dir, 'c.sock'), { payload: hi })).reply.toString()).toBe('two\nlines\n');
  });

  it('echo returns the request byte for byte, no newline added', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { echo: true });
    const r = await exchange(path, { payload: Buffer.from('no newline here') });
    expect(r.reply.toString()).toBe('no newline here');
  });

  it('the fault and read-mode lists are the documented ones, each fault with help text', () => {
    expect([...FAULTS]).toEqual(['never-close', 'silent', 'no-newline', 'close-without-reply', 'reset', 'slow']);
    expect([...READ_MODES]).toEqual(['once', 'line', 'eof']);
    for (const f of FAULTS) expect(FAULT_HELP[f]).toMatch(/\w+/);
  });
});

describe('startServer(): request framing (--read)', () => {
  it('once (default): replies after one read, even without a newline', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { echo: true });
    const r = await exchange(path, { payload: Buffer.from('partial'), timeout: 2_000 });
    expect(r.ok).toBe(true);
    expect(r.reply.toString()).toBe('partial');
  });

  it('once: one read is at most 512 bytes; the rest is read and ignored', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path, { echo: true });
    const logs = collectLogs(server);
    const c = await RawClient.connect(path);
    c.write(Buffer.alloc(2000, 0x41));
    const { data, closed } = await c.readToEnd();
    expect(closed).toBe(true);
    expect(data.length).toBeLessThanOrEqual(512);
    expect(data.length).toBeGreaterThan(0);
    const [log] = await logs.waitFor(1);
    expect(log.requests).toBe(1);
  });

  it('line: waits for the newline, then replies to that line only', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { read: 'line', echo: true });
    const noNewline = await exchange(path, { payload: Buffer.from('no newline'), timeout: 200 });
    expect(noNewline.error?.code).toBe('REPLY_TIMEOUT');
    const c = await RawClient.connect(path);
    c.write('first ');
    await sleep(30);
    c.write('line\nsecond line\n');
    const { data, closed } = await c.readToEnd();
    expect(data.toString()).toBe('first line\n');
    expect(closed).toBe(true);
  });

  it('eof: waits for the client to half-close, then replies to everything', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { read: 'eof', echo: true });
    const c = await RawClient.connect(path);
    c.write('a\n');
    c.write('b\n');
    await sleep(50);
    c.end();
    const { data, closed } = await c.readToEnd();
    expect(data.toString()).toBe('a\nb\n');
    expect(closed).toBe(true);
  });
});

describe('startServer(): keepAlive line protocol', () => {
  it('answers each line on one connection, in turn', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path, { keepAlive: true });
    const logs = collectLogs(server);
    const requests: RequestLog[] = [];
    server.on('request', (r) => requests.push(r));
    const c = await RawClient.connect(path);
    for (let i = 0; i < 3; i++) {
      c.write(`ping ${i}\n`);
      expect(await c.readLine()).toMatch(OK_REPLY_RE);
    }
    c.end();
    const { data, closed } = await c.readToEnd();
    expect(data.length).toBe(0);
    expect(closed).toBe(true);
    const [log] = await logs.waitFor(1);
    // Each request is logged with its own reply; the connection's record counts them and shows none.
    expect(log).toMatchObject({ requests: 3, end: 'closed' });
    expect(log).not.toHaveProperty('request', expect.anything());
    expect(requests.map((r) => [r.id, r.seq, r.request, r.bytesIn])).toEqual([
      [log.id, 1, 'ping 0\n', 7],
      [log.id, 2, 'ping 1\n', 7],
      [log.id, 3, 'ping 2\n', 7],
    ]);
    for (const r of requests) expect(r.reply).toMatch(OK_REPLY_RE);
  });

  it('answers several lines that arrive in one write, and a line split over writes', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { keepAlive: true, echo: true });
    const c = await RawClient.connect(path);
    c.write('a\nb\nc');
    expect(await c.readLine()).toBe('a\n');
    expect(await c.readLine()).toBe('b\n');
    c.write('c\n');
    expect(await c.readLine()).toBe('cc\n');
  });

  it('a last line without newline is answered when the client half-closes', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { keepAlive: true, echo: true });
    const r = await exchange(path, { payload: Buffer.from('one\ntwo'), halfClose: true });
    expect(r.ok).toBe(true);
    expect(r.reply.toString()).toBe('one\ntwo');
  });

  it('keeps the connection open between requests (a line client sees end "open")', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { keepAlive: true });
    const r = await exchange(path, { payload: hi, until: line, closeTimeout: 150 });
    expect(r.ok).toBe(true);
    expect(r.end).toBe('open');
  });
});

describe('startServer(): faults, as a client sees them', () => {
  it('never-close: replies, then keeps the connection open', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path, { fault: 'never-close' });
    const logs = collectLogs(server);
    const c = await RawClient.connect(path);
    c.write(hi);
    expect(await c.readLine()).toMatch(OK_REPLY_RE);
    const rest = await c.readToEnd(300);
    expect(rest.closed).toBe(false);
    c.destroy();
    // The server learns the client left only when its idle timer fires.
    await server.close();
    const [log] = await logs.waitFor(1);
    expect(log).toMatchObject({ end: 'left-open', fault: 'never-close', requests: 1 });
  });

  it('silent: reads the request and never replies', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path, { fault: 'silent' });
    const logs = collectLogs(server);
    const c = await RawClient.connect(path);
    c.write(hi);
    const rest = await c.readToEnd(300);
    expect(rest).toMatchObject({ closed: false });
    expect(rest.data.length).toBe(0);
    c.destroy();
    await server.close();
    const [log] = await logs.waitFor(1);
    expect(log).toMatchObject({ fault: 'silent', requests: 1, bytesIn: 3, bytesOut: 0 });
  });

  it('no-newline: replies without the newline, then closes', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { fault: 'no-newline' });
    const r = await exchange(path, { payload: hi });
    expect(r.ok).toBe(true);
    expect(r.reply.toString()).toMatch(/^OK\+ at \d\d:\d\d:\d\d$/);
  });

  it('no-newline strips a trailing \\r\\n from --reply and echo too', async () => {
    const dir = tmpDir();
    await serve(join(dir, 'a.sock'), { fault: 'no-newline', reply: Buffer.from('READY\r\n') });
    await serve(join(dir, 'b.sock'), { fault: 'no-newline', echo: true });
    expect((await exchange(join(dir, 'a.sock'), { payload: hi })).reply.toString()).toBe('READY');
    expect((await exchange(join(dir, 'b.sock'), { payload: Buffer.from('x\r\n') })).reply.toString()).toBe('x');
  });

  it('close-without-reply: reads the request, closes, sends nothing', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path, { fault: 'close-without-reply' });
    const logs = collectLogs(server);
    const c = await RawClient.connect(path);
    c.write(hi);
    const { data, closed } = await c.readToEnd();
    expect(closed).toBe(true);
    expect(data.length).toBe(0);
    const [log] = await logs.waitFor(1);
    expect(log).toMatchObject({ end: 'closed', reason: 'fault close-without-reply', bytesIn: 3, bytesOut: 0 });
  });

  it('reset: the client sees ECONNRESET, on Unix sockets too', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { fault: 'reset' });
    const c = await RawClient.connect(path);
    c.write(hi);
    const { error, data } = await c.readToEnd();
    expect((error as NodeJS.ErrnoException | undefined)?.code).toBe('ECONNRESET');
    expect(data.length).toBe(0);
  });

  it('reset with a delay still resets', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { fault: 'reset', delay: 100 });
    const r = await exchange(path, { payload: hi, timeout: 3_000 });
    expect(r.error?.code).toBe('RESET');
  });

  it('slow: replies only after the delay', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { fault: 'slow', delay: 250 });
    const started = performance.now();
    const r = await exchange(path, { payload: hi, timeout: 5_000 });
    expect(r.ok).toBe(true);
    expect(r.reply.toString()).toMatch(OK_REPLY_RE);
    expect(performance.now() - started).toBeGreaterThanOrEqual(200);
  });

  it('slow: the default delay is 1s', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { fault: 'slow' });
    const early = await exchange(path, { payload: hi, timeout: 400 });
    expect(early.error?.code).toBe('REPLY_TIMEOUT');
  });

  it('faults work over TCP as well', async () => {
    const server = await serve(tcpAnyPort(), { fault: 'no-newline' });
    const r = await exchange(server.address(), { payload: hi, until: line });
    expect(r.error?.code).toBe('CLOSED_EARLY');
  });
});

describe('startServer(): connection log', () => {
  it('records one entry per connection with bytes, request, reply and how it ended', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path);
    const logs = collectLogs(server);
    const before = Date.now();
    const started = performance.now();
    const r = await exchange(path, { payload: Buffer.from('status\n') });
    const [log] = await logs.waitFor(1);
    const elapsedUs = (performance.now() - started) * 1000;
    expect(log).toMatchObject({
      id: 1,
      bytesIn: 7,
      bytesOut: 16,
      requests: 1,
      request: 'status\n',
      reply: r.reply.toString(),
      end: 'closed',
    });
    expect(log.fault).toBeUndefined();
    expect(Date.parse(log.at)).toBeGreaterThanOrEqual(before - 1_000);
    // The connection lasted a while, and no longer than the client's whole exchange and the wait for its log.
    expect(log.durationUs).toBeGreaterThan(0);
    expect(log.durationUs).toBeLessThanOrEqual(Math.ceil(elapsedUs));
  });

  it('numbers connections in order', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path);
    const logs = collectLogs(server);
    for (let i = 0; i < 3; i++) await exchange(path, { payload: hi });
    await logs.waitFor(3);
    expect(logs.logs.map((l) => l.id).sort()).toEqual([1, 2, 3]);
  });

  it('truncates long requests to 200 bytes in the log', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path, { read: 'eof' });
    const logs = collectLogs(server);
    await exchange(path, { payload: Buffer.alloc(1000, 0x7a), halfClose: true });
    const [log] = await logs.waitFor(1);
    expect(log.request).toBe('z'.repeat(200));
    expect(log.bytesIn).toBe(1000);
  });

  it('client-closed: a client that connects and leaves without a request', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path);
    const logs = collectLogs(server);
    const c = await RawClient.connect(path);
    c.end();
    await c.readToEnd();
    const [log] = await logs.waitFor(1);
    expect(log).toMatchObject({ end: 'client-closed', requests: 0, bytesIn: 0, bytesOut: 0 });
  });

  it('client-reset: a client that resets mid-request (TCP RST)', async () => {
    const server = await serve(tcpAnyPort(), { read: 'eof' });
    const logs = collectLogs(server);
    const [host, port] = server.address().split(':');
    const c = await RawClient.connect({ host, port: Number(port) });
    c.write('half a request');
    await sleep(50);
    c.socket.resetAndDestroy();
    const [log] = await logs.waitFor(1);
    expect(log.end).toBe('client-reset');
  });
});

describe('startServer(): limits', () => {
  it('count: stops after N connections and removes its socket file', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path, { count: 2 });
    const done = new Promise<void>((r) => server.once('done', r));
    expect((await exchange(path, { payload: hi })).ok).toBe(true);
    expect((await exchange(path, { payload: hi })).ok).toBe(true);
    await done;
    const third = await exchange(path, { payload: hi });
    expect(third.error?.code).toBe('NOT_FOUND');
  });

  it('maxConns: a connection over the limit is closed at once, without a reply, and logged', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path, { maxConns: 1, keepAlive: true });
    const logs = collectLogs(server);
    const held = await RawClient.connect(path);
    held.write('x\n');
    await held.readLine(); // the first connection is being served
    // No payload: a request racing the close could turn the EOF into a reset.
    const over = await exchange(path, { timeout: 2_000 });
    expect(over.error?.code).toBe('CLOSED_EARLY');
    expect(over.bytesReceived).toBe(0);
    const [log] = await logs.waitFor(1);
    expect(log).toMatchObject({ end: 'over-max-conns', requests: 0 });
    expect(log.reason).toMatch(/max-conns 1/);
    // The held connection is unaffected.
    held.write('y\n');
    expect(await held.readLine()).toMatch(OK_REPLY_RE);
  });

  it('maxBytes: a line longer than the limit disconnects the client, with a logged reason', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path, { read: 'line', maxBytes: 1024 });
    const logs = collectLogs(server);
    const r = await exchange(path, { payload: Buffer.alloc(4096, 0x61), until: line, timeout: 2_000 });
    expect(r.ok).toBe(false);
    expect(['RESET', 'CLOSED_EARLY']).toContain(r.error?.code);
    const [log] = await logs.waitFor(1);
    expect(log).toMatchObject({ end: 'max-bytes', reason: 'request over --max-bytes 1024' });
  });

  it('maxBytes: a request at the limit is fine', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { read: 'eof', echo: true, maxBytes: 1024 });
    const r = await exchange(path, { payload: Buffer.alloc(1024, 0x62), halfClose: true });
    expect(r.ok).toBe(true);
    expect(r.reply.length).toBe(1024);
  });

  it('maxBytes defaults to 1 MiB', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path, { read: 'eof', echo: true });
    const logs = collectLogs(server);
    const ok = await exchange(path, { payload: Buffer.alloc(1024 * 1024, 1), halfClose: true });
    expect(ok.ok).toBe(true);
    const over = await exchange(path, { payload: Buffer.alloc(1024 * 1024 + 65536, 1), halfClose: true });
    expect(over.ok).toBe(false);
    await logs.waitFor(2);
    expect(logs.logs.map((l) => l.end).sort()).toEqual(['closed', 'max-bytes']);
  });

  it('idleTimeout: a client that sends nothing is disconnected and logged', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path, { idleTimeout: 200 });
    const logs = collectLogs(server);
    const c = await RawClient.connect(path);
    const { closed, data } = await c.readToEnd(5_000);
    expect(closed).toBe(true);
    expect(data.length).toBe(0);
    const [log] = await logs.waitFor(1);
    expect(log).toMatchObject({ end: 'idle-timeout', reason: 'no data for 200ms', requests: 0 });
  });

  it('idleTimeout: a keep-alive connection quiet for too long is closed', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path, { keepAlive: true, idleTimeout: 200 });
    const logs = collectLogs(server);
    const c = await RawClient.connect(path);
    c.write('one\n');
    expect(await c.readLine()).toMatch(OK_REPLY_RE);
    const { closed } = await c.readToEnd(5_000);
    expect(closed).toBe(true);
    const [log] = await logs.waitFor(1);
    expect(log).toMatchObject({ end: 'idle-timeout', requests: 1 });
  });
});

describe('startServer(): close()', () => {
  it('lets an in-flight exchange finish within the grace period', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path, { fault: 'slow', delay: 200, graceTimeout: 5_000 });
    const pending = exchange(path, { payload: hi, timeout: 5_000 });
    await sleep(50);
    await server.close();
    const r = await pending;
    expect(r.ok).toBe(true);
    expect(r.reply.toString()).toMatch(OK_REPLY_RE);
  });

  it('destroys what is still open after graceTimeout, logged as shutdown', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path, { graceTimeout: 150 });
    const logs = collectLogs(server);
    const c = await RawClient.connect(path); // connected, no request yet
    await sleep(30);
    const started = performance.now();
    await server.close();
    expect(performance.now() - started).toBeLessThan(3_000);
    const { closed } = await c.readToEnd();
    expect(closed).toBe(true);
    const [log] = await logs.waitFor(1);
    expect(log.end).toBe('shutdown');
  });

  it('does not wait for idle keep-alive connections', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path, { keepAlive: true, graceTimeout: 10_000 });
    const c = await RawClient.connect(path);
    c.write('x\n');
    await c.readLine();
    const started = performance.now();
    await server.close();
    expect(performance.now() - started).toBeLessThan(3_000);
  });

  it('is idempotent and emits done once', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path);
    let done = 0;
    server.on('done', () => done++);
    await Promise.all([server.close(), server.close()]);
    await server.close();
    expect(done).toBe(1);
  });

  it('active counts open connections', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path, { keepAlive: true });
    expect(server.active).toBe(0);
    const a = await RawClient.connect(path);
    const b = await RawClient.connect(path);
    a.write('x\n');
    b.write('y\n');
    await a.readLine();
    await b.readLine();
    expect(server.active).toBe(2);
    a.end();
    await a.readToEnd();
    for (let i = 0; i < 50 && server.active > 1; i++) await sleep(10);
    expect(server.active).toBe(1);
  });
});
