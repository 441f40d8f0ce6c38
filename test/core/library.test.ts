import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as lib from '../../src/index.js';
import * as unstable from '../../src/unstable.js';
import { killChildren, run } from '../helpers/children.js';
import { DIST_INDEX } from '../helpers/peers.js';

afterEach(killChildren);

describe('the library API', () => {
  it('exports the operations, the framers and the types: no engine', () => {
    for (const name of ['exchange', 'send', 'startSession', 'probe', 'probeAll', 'probeSuite', 'startServe', 'createServe', 'runBench', 'listSockets',
      'createFramer', 'createSlotFramer', 'parseEndRule', 'buildHttpRequest', 'encodeRespCommand', 'buildFastcgiRequest',
      'parseTarget', 'parseDuration', 'unescapeText', 'parseHex', 'escapeText', 'defaultReply', 'isUdsError'] as const) {
      expect(typeof lib[name], name).toBe('function');
    }
    expect(lib.UdsError.prototype).toBeInstanceOf(Error);
    // The engines and the socket-level parts are the unstable subpath's, not the stable API's.
    for (const name of ['UdsServer', 'TapServer', 'EpollServer', 'MessageServer', 'MessageTap', 'startServer', 'startEpollServer', 'startMessageTap',
      'chooseEngine', 'epollUnsupported', 'tapSocketType', 'openConnection', 'inspectSocketFile', 'removeSocketFile', 'SocketWatcher', 'dumpUnixSockets'] as const) {
      expect(name in lib, name).toBe(false);
      expect(typeof unstable[name], name).toBe('function');
    }
    // 89 runtime names before the split: the stable surface is the operations and what describes them.
    expect(Object.keys(lib).length).toBeLessThanOrEqual(50);
  });

  it('package.json exports "." and "./unstable"; docs/library.md says the subpath is unstable', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { exports: Record<string, { import?: string }> };
    expect(pkg.exports['.'].import).toBe('./dist/index.js');
    expect(pkg.exports['./unstable'].import).toBe('./dist/unstable.js');
    const doc = readFileSync(new URL('../../docs/library.md', import.meta.url), 'utf8');
    expect(doc).toMatch(/udsctl\/unstable/);
    expect(doc).toMatch(/may change in any release/);
  });

  it('importing it registers no process listeners and prints nothing', async () => {
    const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'exit', 'beforeExit', 'uncaughtException', 'unhandledRejection', 'warning'];
    const script = `
      const count = () => Object.fromEntries(${JSON.stringify(events)}.map((e) => [e, process.listenerCount(e)]));
      const before = count();
      await import(${JSON.stringify(DIST_INDEX)});
      await import(${JSON.stringify(DIST_INDEX.replace(/index\.js$/, 'unstable.js'))});
      process.stderr.write(JSON.stringify({ before, after: count() }));`;
    const r = await run(process.execPath, ['--input-type=module', '-e', script], { timeoutMs: 10_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    const { before, after } = JSON.parse(r.stderr);
    expect(after).toEqual(before);
  });
});

describe('the library validates its options like the CLI (typed errors, never a TypeError or a made-up verdict)', () => {
  const bad = async (p: Promise<unknown>, code: string, re?: RegExp) => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, 'should reject').toBeInstanceOf(lib.UdsError);
    expect((err as lib.UdsError).code).toBe(code);
    if (re) expect((err as Error).message).toMatch(re);
  };
  const target = '/nonexistent-dir/x.sock';

  it('exchange(): timeout NaN, -1, Infinity, 0, over 2^31-1 ms', async () => {
    for (const timeout of [NaN, -1, Infinity, 0, 2 ** 31, '5s' as unknown as number]) {
      await bad(lib.exchange(target, { timeout }), 'BAD_DURATION', /timeout/);
    }
    await bad(lib.exchange(target, { connectTimeout: -5 }), 'BAD_DURATION', /connectTimeout/);
    await bad(lib.exchange(target, { closeTimeout: NaN }), 'BAD_DURATION', /closeTimeout/);
  });

  it('startServe()/createServe(): a bad target, durations, counts, choices and reply are typed errors before anything listens', async () => {
    const serveBad = (t: unknown, o: object) => bad(Promise.resolve().then(() => lib.startServe(t as string, o)), 'BAD_OPTION');
    await bad(Promise.resolve().then(() => lib.startServe(undefined as unknown as string, {})), 'BAD_TARGET');
    for (const o of [{ delay: -1 }, { idleTimeout: NaN }, { graceTimeout: 2 ** 31 }]) {
      await bad(Promise.resolve().then(() => lib.startServe(target, o)), 'BAD_DURATION');
    }
    for (const o of [{ count: 0 }, { maxConns: 1.5 }, { maxBytes: -1 }, { backlog: NaN }, { workers: 0 }, { fault: 'bogus' }, { read: 'all' }, { engine: 'uring' }, { reply: 'text' }, { perm: 0o10000 }]) {
      await serveBad(target, o);
    }
  });

  it("startServe() on every socket type, MessageServer, MessageTap: the CLI's limits (workers at most 64, maxBytes at most 1 GiB), before anything starts", async () => {
    for (const o of [{ workers: 1e9 }, { workers: 65 }, { maxBytes: 2 ** 40 }]) {
      await bad(Promise.resolve().then(() => lib.startServe(target, o)), 'BAD_OPTION', /at most/);
      await bad(Promise.resolve().then(() => lib.startServe(target, { ...o, upstream: '/nonexistent-dir/up.sock' })), 'BAD_OPTION', /at most/);
    }
    const t = lib.parseTarget('/nonexistent-dir/m.sock');
    await bad(Promise.resolve().then(() => lib.startServe(t, { socketType: 'dgram', maxBytes: 2 ** 40 })), 'BAD_OPTION', /maxBytes must be at most/);
    await bad(Promise.resolve().then(() => lib.startServe(t, { socketType: 'seqpacket', idleTimeout: -1 })), 'BAD_DURATION');
    await bad(Promise.resolve().then(() => lib.startServe(t, { socketType: 'bogus' as never })), 'BAD_OPTION', /socketType/);
    await bad(Promise.resolve().then(() => new unstable.MessageServer(t, { type: 'dgram', maxBytes: 2 ** 40 })), 'BAD_OPTION', /maxBytes must be at most/);
    await bad(Promise.resolve().then(() => new unstable.MessageServer(t, { type: 'seqpacket', idleTimeout: -1 })), 'BAD_DURATION');
    await bad(Promise.resolve().then(() => new unstable.MessageTap(t, { type: 'seqpacket', upstream: t, maxConns: 0 })), 'BAD_OPTION', /maxConns/);
  });

  it('runBench(): until bogus, a payload that is not bytes, durations past the timer limit', async () => {
    await bad(lib.runBench({ target, until: 'bogus' as never }), 'BAD_OPTION', /until/);
    await bad(lib.runBench({ target, payload: 'ping' as never }), 'BAD_OPTION', /payload/);
    await bad(lib.runBench({ target, duration: 2 ** 31 }), 'BAD_DURATION', /--duration/);
    await bad(lib.runBench({ target, timeout: 2 ** 31 }), 'BAD_DURATION', /--timeout/);
  });

  it("exchange(): until 'bogus' or a malformed rule; a rule's text is accepted", async () => {
    await bad(lib.exchange(target, { until: 'bogus' as unknown as lib.EndRule }), 'BAD_OPTION', /--until must be one of/);
    await bad(lib.exchange(target, { until: { kind: 'bogus' } as unknown as lib.EndRule }), 'BAD_OPTION', /kind must be/);
    await bad(lib.exchange(target, { until: { kind: 'bytes', n: 0 } }), 'BAD_OPTION', /bytes/);
    await bad(lib.exchange(target, { until: { kind: 'delim', delim: 'x' as unknown as Buffer } }), 'BAD_OPTION', /delim/);
    await bad(lib.exchange(target, { until: { kind: 'idle', ms: -1 } }), 'BAD_DURATION');
    const r = await lib.exchange(target, { until: 'line' as unknown as lib.EndRule, timeout: 500 });
    expect(r).toMatchObject({ until: 'line', ok: false, end: 'error' });
    expect(r.error?.code).toBe('NOT_FOUND');
  });

  it('exchange(): a payload that is not bytes, a bad maxReply', async () => {
    await bad(lib.exchange(target, { payload: 'hi' as unknown as Buffer }), 'BAD_OPTION', /payload/);
    await bad(lib.exchange(target, { payload: 42 as unknown as Buffer }), 'BAD_OPTION', /payload/);
    await bad(lib.exchange(target, { maxReply: -1 }), 'BAD_OPTION', /maxReply/);
    await bad(lib.exchange(target, { maxReply: 1.5 }), 'BAD_OPTION', /maxReply/);
  });

  it('exchange(), send(), probe(): an undefined, null or numeric target', async () => {
    for (const t of [undefined, null, 42, {}, { kind: 'unix' }]) {
      await bad(lib.exchange(t as unknown as string), 'BAD_TARGET', /target/);
      await bad(lib.send(t as unknown as string, 'hi'), 'BAD_TARGET', /target/);
      await bad(lib.probe(t as unknown as string), 'BAD_TARGET', /target/);
    }
    await bad(lib.probeAll('x' as unknown as string[]), 'BAD_TARGET');
  });

  it('send(): a message that is not a string or a Buffer', async () => {
    for (const m of [undefined, null, 42, { a: 1 }]) {
      await bad(lib.send(target, m as unknown as string), 'BAD_OPTION', /message must be a string or a Buffer/);
    }
  });

  it('probe(): timeout NaN/-1/Infinity, until bogus, a bad payload or regex', async () => {
    for (const timeout of [NaN, -1, Infinity, 0]) await bad(lib.probe(target, { timeout }), 'BAD_DURATION', /timeout/);
    await bad(lib.probe(target, { warn: -1 }), 'BAD_DURATION', /warn/);
    await bad(lib.probe(target, { wait: Infinity }), 'BAD_DURATION', /wait/);
    await bad(lib.probe(target, { until: 'bogus' as unknown as lib.EndRule }), 'BAD_OPTION');
    await bad(lib.probe(target, { payload: 7 as unknown as Buffer }), 'BAD_OPTION', /payload/);
    await bad(lib.probe(target, { expectRegex: '(a)\\1' }), 'BAD_OPTION', /backreferences/);
    await bad(lib.probe(target, { expectRegex: /(?=a)/ }), 'BAD_OPTION', /lookahead/);
    await bad(lib.probe(target, { expectRegex: 5 as unknown as string }), 'BAD_OPTION', /expect-regex/);
  });

  it('probe(): a JavaScript RegExp is matched in linear time by its source and flags', async () => {
    const { compileLinearRegex } = await import('../../src/core/regex.js');
    const re = compileLinearRegex(/^PONG$/im);
    expect(re.test('x\npong\n')).toBe(true);
    const t0 = performance.now();
    expect(compileLinearRegex('(a+)+$').test(`${'a'.repeat(40)}!`)).toBe(false);
    expect(performance.now() - t0).toBeLessThan(1_000);
    // A class or an escape that looks like lookahead is not one.
    expect(compileLinearRegex('[(?=]x').test('=x')).toBe(true);
    expect(compileLinearRegex('\\(?=').test('(=')).toBe(true);
  });
});
