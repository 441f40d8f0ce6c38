/**
 * The end-rule contract: every end rule and protocol framing, on every socket
 * type where it means something, reads the same reply through the one
 * exchange, and ends as soon as the reply is complete (never by --timeout).
 * The peer is Python's socket module (test/fixtures/canned-peers.py): each
 * reply part is its own write, so on seqpacket and dgram its own message, and
 * a framer must find an end that spans messages. The same table then goes
 * through probe (the reply check passes, the contract kept) and bench (every
 * one-shot request complete, none timed out) on stream and seqpacket sockets.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBench } from '../../src/core/bench/run.js';
import { exchange } from '../../src/core/exchange.js';
import { probe } from '../../src/core/probe.js';
import { type EndRule, parseEndRule } from '../../src/core/framing/end-rule.js';
import type { SocketType } from '../../src/core/socket/socket-type.js';
import { killChildren, spawnChild, waitForOutput } from '../helpers/children.js';
import { FIXTURES } from '../helpers/peers.js';
import { requirePeers } from '../helpers/requirements.js';
import { killAll, runCli } from '../helpers/run-cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';

const PEER = join(FIXTURES, 'canned-peers.py');
const TYPES: SocketType[] = ['stream', 'seqpacket', 'dgram'];

function record(type: number, content: Buffer): Buffer {
  const h = Buffer.from([1, type, 0, 1, 0, 0, 0, 0]);
  h.writeUInt16BE(content.length, 4);
  return Buffer.concat([h, content]);
}
const FCGI_REPLY = [record(6, Buffer.from('Content-Type: text/plain\r\n\r\nhi')), record(6, Buffer.alloc(0)), record(3, Buffer.alloc(8))];

interface Case {
  name: string;
  until: EndRule;
  parts: (string | Buffer)[];
  /** The server closes after the parts. */
  close?: boolean;
  reply: string | Buffer;
  /** Where the rule does not apply: the socket type and why (one line). */
  not?: Partial<Record<SocketType, string>>;
}

const CASES: Case[] = [
  { name: 'eof', until: { kind: 'eof' }, parts: ['ab', 'cd'], close: true, reply: 'abcd', not: { dgram: 'a datagram socket has no close: eof is one message there' } },
  { name: 'line', until: { kind: 'line' }, parts: ['ab', 'c\nrest'], reply: 'abc\n' },
  { name: 'delim', until: parseEndRule('delim:END'), parts: ['xEN', 'Dtail'], reply: 'xEND' },
  { name: 'bytes', until: { kind: 'bytes', n: 5 }, parts: ['abc', 'defg'], reply: 'abcde' },
  { name: 'idle', until: { kind: 'idle', ms: 300 }, parts: ['ab', 'cd'], reply: 'abcd' },
  { name: 'len', until: parseEndRule('len:4be'), parts: [Buffer.from('\0\0\0\x05he'), 'llo!'], reply: '\0\0\0\x05hello' },
  { name: 'message', until: { kind: 'message' }, parts: ['one', 'two'], reply: 'one', not: { stream: 'a stream has no message boundaries' } },
  { name: 'http', until: { kind: 'http', head: false }, parts: ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe', 'llo'], reply: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello' },
  { name: 'resp', until: { kind: 'resp' }, parts: ['*2\r\n+PONG\r\n', ':7\r\n'], reply: '*2\r\n+PONG\r\n:7\r\n' },
  { name: 'fastcgi', until: { kind: 'fastcgi', keepConn: true }, parts: FCGI_REPLY, reply: Buffer.concat(FCGI_REPLY) },
];

const hex = (p: string | Buffer) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p).toString('hex');
const addr: Partial<Record<SocketType, string>> = {};
let dir = '';

beforeAll(async () => {
  requirePeers('python3');
  dir = mkdtempSync(join(tmpdir(), 'udsctl-contract-'));
  const table = Object.fromEntries(CASES.map((c) => [c.name, { parts: c.parts.map(hex), close: Boolean(c.close) }]));
  table['len-cli'] = { parts: [hex('\0\0\0\x02hi')], close: false };
  writeFileSync(join(dir, 'table.json'), JSON.stringify(table));
  for (const type of TYPES) {
    addr[type] = join(dir, `${type}.sock`);
    const peer = spawnChild('python3', [PEER, type, addr[type]!, join(dir, 'table.json')], { timeoutMs: 120_000 });
    await waitForOutput(peer, /ready/, 10_000);
  }
});
afterAll(async () => {
  await killChildren();
  killAll();
  rmSync(dir, { recursive: true, force: true });
});

describe.each(TYPES)('every end rule and protocol on a %s socket', (type) => {
  // A rule that means nothing on this type (c.not says why) has no case here.
  for (const c of CASES.filter((k) => k.not?.[type] === undefined)) {
    it(`${c.name}: the whole reply, at once`, async () => {
      const r = await exchange(addr[type]!, {
        payload: Buffer.from(c.name),
        socketType: type,
        until: c.until,
        wantReply: true,
        timeout: 8_000,
      });
      expect(r.error?.message).toBeUndefined();
      expect(r.ok).toBe(true);
      expect(r.ruleMet).toBe(true);
      expect(r.end).not.toBe('timeout');
      expect(r.reply.toString('latin1')).toBe(Buffer.from(c.reply as string).toString('latin1'));
      expect(r.socketType).toBe(type);
    });
  }
});

describe('where a rule means nothing, the exchange says why', () => {
  it('message on a stream socket: BAD_OPTION naming the missing boundaries, before anything is sent', async () => {
    const r = await exchange(addr.stream!, { payload: Buffer.from('message'), socketType: 'stream', until: { kind: 'message' }, timeout: 8_000 });
    expect(r.error?.code).toBe('BAD_OPTION');
    expect(r.error?.message).toMatch(/no message boundaries/);
    expect(r.bytesSent).toBe(0);
  });

  it('eof on a dgram socket (no close there) is one message', async () => {
    const r = await exchange(addr.dgram!, { payload: Buffer.from('message'), socketType: 'dgram', until: { kind: 'eof' }, wantReply: true, timeout: 8_000 });
    expect(r).toMatchObject({ ok: true, until: 'message', ruleMet: true });
    expect(r.reply.toString()).toBe('one');
  });
});

describe('send on a seqpacket socket ends at the end of the reply (issue 18)', () => {
  it('--until len:4be: the framed reply, exit 0, before --timeout', async () => {
    const r = await runCli(['send', '--timeout', '8s', '--until', 'len:4be', addr.seqpacket!, 'len-cli']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdoutBytes.toString('latin1')).toBe('\0\0\0\x02hi');
  });

  it('--resp PING on socat type=5 with cat (an echo): the echoed command is a whole RESP array, exit 0', async () => {
    requirePeers('socat');
    const path = join(tmpDir(), 'cat.sock');
    const socat = spawnChild('socat', ['-d', '-d', `UNIX-LISTEN:${path},type=5,fork`, 'EXEC:cat'], { timeoutMs: 60_000 });
    await waitForOutput(socat, /listening on/, 10_000);
    const r = await runCli(['send', '--timeout', '8s', '--json', '--resp', 'PING', path]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, socketType: 'seqpacket', ruleMet: true });
  });
});

// The same table through probe and bench (issue 18): one framing for every command, so the same
// reply ends at the same byte whichever of them reads it.
const STREAMISH: ('stream' | 'seqpacket')[] = ['stream', 'seqpacket'];

describe.each(STREAMISH)('probe: every end rule and protocol on a %s socket', (type) => {
  for (const c of CASES.filter((k) => k.not?.[type] === undefined)) {
    it(`${c.name}: the whole reply, the reply check passed, never a timeout`, async () => {
      const r = await probe(addr[type]!, {
        payload: Buffer.from(c.name),
        socketType: type,
        until: c.until,
        // The peer closes after the reply only where the case says so: the contract says which.
        contract: c.close ? 'one-shot' : 'keep-alive',
        timeout: 8_000,
      });
      expect(r.exchange?.error?.message).toBeUndefined();
      expect(r.exchange?.ruleMet).toBe(true);
      expect(r.exchange?.end).not.toBe('timeout');
      expect(r.exchange!.reply.toString('latin1')).toBe(Buffer.from(c.reply as string).toString('latin1'));
      expect(r.checks.find((k) => k.name === 'reply')?.status, JSON.stringify(r.findings)).toBe('ok');
      expect(r.status).toBe('OK');
      expect(r.socketType).toBe(type);
    });
  }
});

describe.each(STREAMISH)('bench: every end rule and protocol on a %s socket', (type) => {
  for (const c of CASES.filter((k) => k.not?.[type] === undefined)) {
    it(`${c.name}: 3 one-shot requests, each reply complete, none timed out`, async () => {
      const r = await runBench({
        target: addr[type]!,
        mode: 'oneshot',
        connections: 1,
        requests: 3,
        workers: 1,
        payload: Buffer.from(c.name),
        until: c.until,
        ...(type === 'seqpacket' ? { socketType: type, engine: 'epoll' as const } : {}),
        timeout: 8_000,
      });
      expect(r.errors, JSON.stringify(r.errors)).toEqual([]);
      expect(r.requests.ok).toBe(3);
      // At least each whole reply was read (bytes after a reply's end, in the same read, count too).
      expect(r.bytes.in).toBeGreaterThanOrEqual(3 * Buffer.from(c.reply as string).length);
    });
  }
});
