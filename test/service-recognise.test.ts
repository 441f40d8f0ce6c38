/**
 * The service table without I/O: recogniseWithoutIo (what `udsctl ls` calls)
 * by process, path, environment and socket type, and memcached's reply framer
 * with a reply split at every byte; the process whose command line names a
 * socket, for a daemon that forked after listen().
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FRAME_ERROR, NEED_MORE } from '../src/core/framing/framer.js';
import { MemcachedFramer } from '../src/core/framing/memcached.js';
import { SERVICES, recogniseWithoutIo, serviceByName } from '../src/core/service/index.js';
import { processNamingPath } from '../src/core/service/look.js';
import { tmpDir } from './helpers/tmp-dir.js';

const named = (f: Parameters<typeof recogniseWithoutIo>[0]) => {
  const r = recogniseWithoutIo(f);
  return r ? [r.service.name, r.by] : null;
};

describe('recogniseWithoutIo', () => {
  it('by the listening process: comm, argv[0], argv[1], python -m MODULE, a command line', () => {
    expect(named({ processes: [{ pid: 9, name: 'memcached', cmdline: 'memcached -s /x' }] })).toEqual(['memcached', 'process']);
    expect(named({ processes: [{ pid: 9, name: 'php-fpm8.2', cmdline: 'php-fpm: pool www' }] })).toEqual(['fastcgi', 'process']);
    expect(named({ processes: [{ pid: 9, name: 'python3', cmdline: '/usr/bin/python3 -m gunicorn app:app' }] })).toEqual(['http', 'process']);
    expect(named({ processes: [{ pid: 9, name: 'uwsgi', cmdline: 'uwsgi --http-socket /x.sock' }] })).toEqual(['http', 'process']);
    expect(named({ processes: [{ pid: 9, name: 'uwsgi', cmdline: 'uwsgi --socket /x.sock' }] })).toEqual(['uwsgi', 'process']);
    // systemd holds activation sockets: the evidence is whoever else holds it.
    expect(named({ processes: [{ pid: 1, name: 'systemd', cmdline: '/sbin/init' }] })).toBeNull();
  });

  it('by path, environment and socket type; nothing for an unknown server', () => {
    expect(named({ path: '/run/php/php8.2-fpm.sock' })).toEqual(['fastcgi', 'path']);
    expect(named({ path: '/run/redis/redis-server.sock' })).toEqual(['redis', 'path']);
    expect(named({ path: '/tmp/x.sock', socketType: 'dgram' })).toEqual(['listen-only', 'socket-type']);
    expect(named({ path: '/tmp/app.sock', socketType: 'stream', processes: [{ pid: 9, name: 'python3', cmdline: 'python3 app.py' }] })).toBeNull();
  });

  it('every service has a name --as takes, a title, and rows for its codes', () => {
    for (const s of SERVICES) {
      expect(serviceByName(s.name)).toBe(s);
      expect(s.title.length).toBeGreaterThan(2);
      for (const f of s.findings) expect(f.code).toMatch(/^[A-Z_]+$/);
    }
  });
});

describe('MemcachedFramer', () => {
  const replies = ['VERSION 1.6.18\r\n', 'VALUE k 0 5 7\r\nhe\r\no\r\nVALUE j 1 0\r\n\r\nEND\r\n', 'STAT pid 1\r\nSTAT uptime 2\r\nEND\r\n', 'STORED\r\n', 'VA 3 f\r\nabc\r\n', 'SERVER_ERROR out of memory\r\n'];
  it('ends each reply exactly, split at any byte, pipelined', () => {
    const all = Buffer.from(replies.join(''));
    for (let cut = 0; cut <= all.length; cut++) {
      const f = new MemcachedFramer();
      const ends: number[] = [];
      for (const [from, to] of [[0, cut], [cut, all.length]]) {
        let at = from;
        while (at < to) {
          const e = f.push(all, at, to);
          if (e === NEED_MORE) break;
          expect(e).not.toBe(FRAME_ERROR);
          ends.push(e);
          at = e;
        }
      }
      let sum = 0;
      expect(ends).toEqual(replies.map((r) => (sum += r.length)));
    }
  });

  it('an error reply is failed; a VALUE line without a count is FRAME_ERROR', () => {
    const f = new MemcachedFramer();
    const b = Buffer.from('ERROR\r\n');
    expect(f.push(b, 0, b.length)).toBe(b.length);
    expect(f.failed).toBe(true);
    const g = new MemcachedFramer();
    const bad = Buffer.from('VALUE k 0 x\r\n');
    expect(g.push(bad, 0, bad.length)).toBe(FRAME_ERROR);
  });
});

describe('processNamingPath (a forked daemon: the pid SO_PEERCRED gave has exited)', () => {
  const fakeProc = (procs: Record<string, { comm: string; argv: string[] }>): string => {
    const dir = tmpDir('udsctl-proc-');
    for (const [pid, p] of Object.entries(procs)) {
      mkdirSync(join(dir, pid));
      writeFileSync(join(dir, pid, 'comm'), `${p.comm}\n`);
      writeFileSync(join(dir, pid, 'cmdline'), `${p.argv.join('\0')}\0`);
    }
    return dir;
  };
  const uid = process.getuid!();

  it('the one process of that uid whose argv names the path (as an argument, or after = or :)', async () => {
    const proc = fakeProc({
      '10': { comm: 'dbus-daemon', argv: ['dbus-daemon', '--session', '--address=unix:path=/tmp/x/bus.sock', '--fork'] },
      '11': { comm: 'bash', argv: ['bash'] },
      '12': { comm: 'memcached', argv: ['memcached', '-s', '/tmp/x/bus.sock.old'] },
    });
    expect(await processNamingPath('/tmp/x/bus.sock', uid, proc)).toMatchObject({ pid: 10, name: 'dbus-daemon' });
    expect(await processNamingPath('/tmp/x/other.sock', uid, proc)).toBeNull();
    // Another uid's processes are not the listener's.
    expect(await processNamingPath('/tmp/x/bus.sock', uid + 1, proc)).toBeNull();
  });

  it('two processes naming it (the server and a client: redis-cli -s P): nothing is guessed', async () => {
    const proc = fakeProc({
      '20': { comm: 'redis-server', argv: ['redis-server', '--unixsocket', '/tmp/x/r.sock'] },
      '21': { comm: 'redis-cli', argv: ['redis-cli', '-s', '/tmp/x/r.sock'] },
    });
    expect(await processNamingPath('/tmp/x/r.sock', uid, proc)).toBeNull();
  });
});
