/**
 * --resp against a real redis-server on a Unix socket: replies shown as
 * redis-cli shows them, -ERR as MISMATCH (probe) and exit 10 (send), RESP3
 * maps after HELLO 3, and bench --resp persistent.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { killChildren, run } from '../helpers/children.js';
import { startRedis } from '../helpers/daemons.js';
import { requirePeers } from '../helpers/requirements.js';
import { killAll, runCli } from '../helpers/run-cli.js';

beforeEach(() => requirePeers('redis-server'));
afterEach(async () => {
  killAll();
  await killChildren();
});

describe('udsctl --resp against redis-server', () => {
  it('send: simple, bulk (quoted), integer, nil and array replies, readably', async () => {
    const { sock } = await startRedis();
    const out = async (cmd: string) => {
      const r = await runCli(['send', '--no-raw', '--resp', cmd, sock]);
      expect(r.status, `${cmd}: ${r.stderr}`).toBe(0);
      return r.stdout;
    };
    expect(await out('PING')).toBe('PONG\n');
    expect(await out('SET k "a b\\nc"')).toBe('OK\n');
    expect(await out('GET k')).toBe('"a b\\nc"\n');
    expect(await out('RPUSH l x y')).toBe('(integer) 2\n');
    expect(await out('LRANGE l 0 -1')).toBe('1) "x"\n2) "y"\n');
    expect(await out('GET missing')).toBe('(nil)\n');
    const j = JSON.parse((await runCli(['send', '--json', '--resp', 'PING', sock])).stdout);
    expect([j.code, j.end, j.reply, j.frame.failed]).toEqual(['OK', 'open', '+PONG\r\n', false]);
  });

  it('send: an error reply is shown and exits 10; HELLO 3 gives a RESP3 map', async () => {
    const { sock } = await startRedis();
    const e = await runCli(['send', '--no-raw', '--resp', 'NOSUCHCMD', sock]);
    expect(e.status).toBe(10);
    expect(e.stdout).toMatch(/^\(error\) ERR unknown command/);
    const h = await runCli(['send', '--no-raw', '--resp', 'HELLO 3', sock]);
    expect(h.status, h.stderr).toBe(0);
    expect(h.stdout).toMatch(/^\(map\)\n1# "server" => "redis"\n/);
  });

  it('send to a pipe: the raw values, byte for byte what redis-cli prints to a pipe', async () => {
    const { sock } = await startRedis();
    const cli = (cmd: string[]) => run('redis-cli', ['-s', sock, ...cmd]);
    await cli(['RPUSH', 'l', 'a b', '', 'x']);
    await cli(['HSET', 'h', 'f', 'v', 'g', '']);
    await cli(['SET', 'k', 'hello world']);
    for (const cmd of ['GET k', 'GET missing', 'EXISTS k', 'LRANGE l 0 -1', 'HGETALL h', 'LPUSH k x', 'CONFIG GET maxmemory-policy', 'PING']) {
      const ours = await runCli(['send', '--resp', cmd, sock]);
      const theirs = await cli(cmd.split(' '));
      expect(ours.stdout, cmd).toBe(theirs.stdout);
    }
    expect((await runCli(['send', '--resp', 'GET k', sock])).stdout).toBe('hello world\n');
    const info = await runCli(['send', '--resp', 'INFO server', sock]);
    expect(info.stdout).toMatch(/^# Server\r\nredis_version:/);
  });

  it('probe: PING is healthy (keep-alive); -ERR is MISMATCH', async () => {
    const { sock } = await startRedis();
    const ok = await runCli(['probe', '--resp', 'PING', '--expect', 'PONG', sock]);
    expect(ok.status, ok.stdout).toBe(0);
    const bad = await runCli(['probe', '--json', '--resp', 'NOSUCHCMD', sock]);
    expect(bad.status).toBe(2);
    const t = JSON.parse(bad.stdout).targets[0];
    expect(t.code).toBe('MISMATCH');
    expect(t.detail).toMatch(/error reply "-ERR unknown command/);
  });

  it('bench --resp: persistent and pipelined, no errors; an error reply counts as MISMATCH', async () => {
    const { sock } = await startRedis();
    const r = JSON.parse(
      (await runCli(['bench', '--resp', 'PING', '--mode', 'persistent', '-c', '4', '-p', '4', '-n', '2000', '--expect', 'PONG', '--json', sock], { timeoutMs: 60_000 })).stdout,
    );
    expect([r.requests.ok, r.requests.errors]).toEqual([2000, 0]);
    const e = JSON.parse((await runCli(['bench', '--resp', 'NOSUCHCMD', '--mode', 'persistent', '-c', '2', '-n', '50', '--json', sock], { timeoutMs: 60_000 })).stdout);
    expect(e.errors[0].code).toBe('MISMATCH');
    expect(e.errors[0].message).toMatch(/an error reply \(resp\)/);
  });
});
