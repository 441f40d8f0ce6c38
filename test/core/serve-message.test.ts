/**
 * serve on message sockets, in-process through the library's one createServe
 * (socketType dgram or seqpacket: the message engine's server; an upstream of
 * those types: its tap), against Python peers (test/fixtures/message-tap-peers.py):
 * a 0-length seqpacket message is a message, not the client's end; and one
 * --fault no-newline behaviour on every tap (stream net and epoll, seqpacket,
 * dgram) in front of an upstream replying `OK\r\n`.
 */
import { once } from 'node:events';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Server } from '../../src/core/serve/protocol.js';
import { createServe } from '../../src/core/serve/start.js';
import type { MessageConnLog, MessageLog, MessageServeOptions } from '../../src/core/serve/message-server.js';
import type { MessageTapPeerLog } from '../../src/core/serve/message-tap.js';
import { type Spawned, killChildren, spawnChild, waitForOutput } from '../helpers/children.js';
import { FIXTURES } from '../helpers/peers.js';
import { requirePeers } from '../helpers/requirements.js';
import { tmpDir } from '../helpers/tmp-dir.js';

const PEERS = join(FIXTURES, 'message-tap-peers.py');
const closers: (() => Promise<void>)[] = [];

beforeEach(() => requirePeers('python3'));
afterEach(async () => {
  await killChildren();
  for (const close of closers.splice(0).reverse()) await close();
});

function py(mode: string, ...args: string[]): Spawned {
  return spawnChild('python3', [PEERS, mode, ...args], { timeoutMs: 30_000 });
}

/** The message engine's server, made by createServe from socketType. */
async function messageServer(path: string, o: Omit<MessageServeOptions, 'type'> & { type: 'dgram' | 'seqpacket' }): Promise<Server> {
  const { type, ...rest } = o;
  const s = createServe(path, { ...rest, socketType: type });
  await s.listen();
  closers.push(() => s.close());
  expect(s).toMatchObject({ engine: 'message', socketType: type });
  return s;
}

/** The message engine's tap, made by createServe: the upstream's type is found when it listens. */
async function messageTap(path: string, upstream: string, type: 'dgram' | 'seqpacket', fault?: 'no-newline'): Promise<Server> {
  const t = createServe(path, { upstream, fault });
  await t.listen();
  closers.push(() => t.close());
  expect(t).toMatchObject({ engine: 'message', socketType: type });
  return t;
}

async function streamServe(path: string, o: Parameters<typeof createServe>[1]): Promise<Server> {
  const s = createServe(path, o);
  await s.listen();
  closers.push(() => s.close());
  return s;
}

/** Send `msg` on a stream connection, half-close, read to the end. */
async function streamExchange(path: string, msg: string): Promise<string> {
  const sock = net.connect(path);
  const chunks: Buffer[] = [];
  sock.on('data', (b) => chunks.push(b));
  await once(sock, 'connect');
  sock.end(msg);
  await once(sock, 'close');
  return Buffer.concat(chunks).toString('latin1');
}

const closeOf = (s: Server) =>
  new Promise<MessageConnLog>((resolve) =>
    s.on('conn', (l) => {
      if (l.event === 'close') resolve(l);
    }),
  );

describe('a 0-length seqpacket message is a message', () => {
  it('serve --type seqpacket answers it and keeps the connection: the client gets every reply, then its end', async () => {
    const dir = tmpDir();
    const sock = join(dir, 's.sock');
    const server = await messageServer(sock, { type: 'seqpacket', reply: Buffer.from('R') });
    const messages: MessageLog[] = [];
    server.on('message', (m) => messages.push(m));
    const closed = closeOf(server);
    const client = py('seq-client', sock, 'a', '', 'b');
    await waitForOutput(client, /^(eof|reset)\n/m, 15_000);
    expect(client.stdout()).toBe("recv b'R\\n'\nrecv b'R\\n'\nrecv b'R\\n'\neof\n");
    const end = await closed;
    expect(end).toMatchObject({ messages: 3, reason: 'client closed' });
    expect(messages.map((m) => m.bytes)).toEqual([1, 0, 1]);
  });

  it('the seqpacket tap relays it both ways: to the upstream, and an upstream\'s 0-length reply to the client', async () => {
    const dir = tmpDir();
    const up = join(dir, 'up.sock');
    const upstream = await messageServer(up, { type: 'seqpacket', reply: Buffer.alloc(0) });
    const got: number[] = [];
    upstream.on('message', (m) => got.push(m.bytes));
    const tap = await messageTap(join(dir, 'tap.sock'), up, 'seqpacket');
    const ended = new Promise<MessageTapPeerLog>((resolve) => tap.on('messagePeer', (l) => l.event === 'close' && resolve(l)));
    const client = py('seq-client', join(dir, 'tap.sock'), 'a', '', 'b');
    await waitForOutput(client, /^(eof|reset)\n/m, 15_000);
    expect(client.stdout()).toBe("recv b''\nrecv b''\nrecv b''\neof\n");
    expect(got).toEqual([1, 0, 1]);
    expect(await ended).toMatchObject({ messagesUp: 3, messagesDown: 3, first: 'client' });
  });
});

describe('--fault no-newline: one behaviour on every tap (the upstream replies OK\\r\\n)', () => {
  const REPLY = Buffer.from('OK\r\n');
  const cases: { name: string; run: (dir: string) => Promise<string> }[] = [
    {
      name: 'stream, net tap',
      run: async (dir) => {
        await streamServe(join(dir, 'up.sock'), { reply: REPLY });
        const tap = await streamServe(join(dir, 'tap.sock'), { upstream: join(dir, 'up.sock'), fault: 'no-newline', engine: 'net' });
        expect(tap.engine).toBe('net');
        return streamExchange(join(dir, 'tap.sock'), 'hi');
      },
    },
    {
      name: 'stream, epoll relay',
      run: async (dir) => {
        await streamServe(join(dir, 'up.sock'), { reply: REPLY });
        const tap = await streamServe(join(dir, 'tap.sock'), { upstream: join(dir, 'up.sock'), fault: 'no-newline', engine: 'epoll', quiet: true });
        expect(tap.engine).toBe('epoll');
        return streamExchange(join(dir, 'tap.sock'), 'hi');
      },
    },
    {
      name: 'seqpacket tap',
      run: async (dir) => {
        await messageServer(join(dir, 'up.sock'), { type: 'seqpacket', reply: REPLY });
        await messageTap(join(dir, 'tap.sock'), join(dir, 'up.sock'), 'seqpacket', 'no-newline');
        const client = py('seq-client', join(dir, 'tap.sock'), 'hi');
        await waitForOutput(client, /^(eof|reset)\n/m, 15_000);
        return client.stdout();
      },
    },
    {
      name: 'dgram tap',
      run: async (dir) => {
        await messageServer(join(dir, 'up.sock'), { type: 'dgram', reply: REPLY });
        await messageTap(join(dir, 'tap.sock'), join(dir, 'up.sock'), 'dgram', 'no-newline');
        const client = py('dgram-client', join(dir, 'tap.sock'), join(dir, 'me.sock'), 'hi');
        await waitForOutput(client, /^done\n/m, 15_000);
        return client.stdout();
      },
    },
  ];
  for (const c of cases) {
    it(`${c.name}: the client gets OK, without the CR and the LF`, async () => {
      const out = await c.run(tmpDir());
      // The stream client's bytes as they are; the Python clients print a repr per message.
      expect(out).toMatch(/^(OK|recv b'OK'\n(eof|done)\n)$/);
    });
  }
});
