/**
 * ls's pure parts: recognition by name/process/port, the stat dev_t to the
 * kernel's, loopback addresses, the --type and --watch parsers, sorting.
 */
import { statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { looksLikePath, parseLsService, parseLsTypes, watchInterval } from '../../src/commands/ls.js';
import { isLoopbackOrAny, kernelDev } from '../../src/core/ls/list.js';
import { recogniseEntry, serviceMatches } from '../../src/core/ls/service.js';
import { KNOWN_SOCKETS, recogniseWithoutIo, SERVICE_NAMES } from '../../src/core/service/index.js';
import { dumpUnixSockets, SockDiagUnavailable } from '../../src/core/socket/sock-diag.js';

describe('ls recognition (the service framework: recogniseWithoutIo)', () => {
  const held = (name: string) => [{ pid: 4242, name, uid: 0, cmdline: Buffer.from(name) }];
  // [socket name, holding process, socket type, what ls shows, the service probe checks it as]
  const cases: [string, string | null, 'stream' | 'dgram' | null, string | null, string | null][] = [
    ['/run/postgresql/.s.PGSQL.5432', null, 'stream', 'postgresql', 'postgresql'],
    ['/var/run/docker.sock', null, 'stream', 'docker', 'http'],
    ['/srv/x.sock', 'dockerd', 'stream', 'docker', 'http'],
    ['/run/containerd/containerd.sock', null, 'stream', 'containerd', 'grpc'],
    ['/run/php/php8.2-fpm.sock', null, 'stream', 'fastcgi', 'fastcgi'],
    ['/run/mysqld/mysqld.sock', null, null, 'mysql', 'mysql'],
    ['/run/dbus/system_bus_socket', null, 'stream', 'dbus', 'dbus'],
    ['/run/redis/redis-server.sock', null, 'stream', 'redis', 'redis'],
    ['/srv/app/app.sock', 'php-fpm8.2', 'stream', 'fastcgi', 'fastcgi'],
    ['/srv/app/app.sock', 'nginx', 'stream', 'http', 'http'],
    ['/run/nginx-app.sock', null, 'stream', 'nginx', 'http'],
    ['/home/u/.gnupg/S.gpg-agent', null, 'stream', 'gpg-agent', 'line'],
    ['/home/u/.gnupg/S.gpg-agent.ssh', null, 'stream', 'ssh-agent', 'ssh-agent'],
    ['/run/systemd/journal/socket', null, 'dgram', 'journald', 'listen-only'],
    ['/run/systemd/journal/stdout', 'systemd-journal', 'stream', 'journald', 'listen-only'],
    ['/dev/log', null, 'dgram', 'syslog', 'listen-only'],
    ['/run/systemd/private', null, 'stream', 'systemd', 'line'],
    ['/run/systemd/notify', null, 'dgram', 'systemd', 'listen-only'],
    ['@/tmp/dbus-AbCdEf12', null, 'stream', 'dbus', 'dbus'],
    ['/tmp/app/x.sock', null, 'dgram', 'listen-only', 'listen-only'],
    ['/srv/app/app.sock', null, 'stream', null, null],
    ['/srv/app/app.sock', 'python3', 'stream', null, null],
  ];
  for (const [name, proc, type, want, checkedAs] of cases) {
    it(`${name}${proc ? ` held by ${proc}` : ''} -> ${want}${checkedAs && checkedAs !== want ? ` (checked as ${checkedAs})` : ''}`, () => {
      const got = recogniseEntry(name, type, proc ? held(proc) : [], {});
      expect(got?.service ?? null).toBe(want);
      expect(got?.checkedAs ?? null).toBe(checkedAs);
    });
  }

  it('probe sees the same: recogniseWithoutIo names the known socket and the service that checks it', () => {
    const r = recogniseWithoutIo({ path: '/var/run/docker.sock', socketType: 'stream' });
    expect(r?.service.name).toBe('http');
    expect(r?.known?.name).toBe('docker');
    expect(recogniseWithoutIo({ path: '/home/u/.gnupg/S.gpg-agent', socketType: 'stream' })?.service.check.kind).toBe('line');
  });

  it('every KNOWN_SOCKETS row speaks a service of the table, or none', () => {
    for (const k of KNOWN_SOCKETS) if (k.speaks !== undefined) expect(SERVICE_NAMES).toContain(k.speaks);
  });

  it('$SSH_AUTH_SOCK is the ssh agent, whatever its name', () => {
    expect(recogniseEntry('/tmp/x/y', 'stream', [], { SSH_AUTH_SOCK: '/tmp/x/y' })).toEqual({ service: 'ssh-agent', why: 'the path is $SSH_AUTH_SOCK', checkedAs: 'ssh-agent' });
  });

  it('a holder that is systemd (socket activation) says nothing; the other holder does', () => {
    const procs = [
      { pid: 1, name: 'systemd', uid: 0, cmdline: Buffer.from('/sbin/init') },
      { pid: 77, name: 'memcached', uid: 0, cmdline: Buffer.from('/usr/bin/memcached -s /run/m') },
    ];
    expect(recogniseEntry('/run/m', 'stream', procs, {})?.service).toBe('memcached');
  });

  it('TCP: the process first, then the well-known port (a guess)', () => {
    expect(recogniseEntry('127.0.0.1:5432', 'stream', [], {}, 5432)?.service).toBe('postgresql');
    expect(recogniseEntry('127.0.0.1:22', 'stream', [], {}, 22)).toMatchObject({ service: 'ssh', checkedAs: 'line' });
    expect(recogniseEntry('127.0.0.1:12345', 'stream', held('redis-server'), {}, 12345)?.service).toBe('redis');
    expect(recogniseEntry('127.0.0.1:12345', 'stream', [], {}, 12345)).toBeNull();
  });

  it('--service matches the name shown or the service that checks it, never the line fallback', () => {
    const docker = recogniseEntry('/var/run/docker.sock', 'stream', [], {});
    expect(serviceMatches(docker, 'docker')).toBe(true);
    expect(serviceMatches(docker, 'http')).toBe(true);
    expect(serviceMatches(docker, 'grpc')).toBe(false);
    expect(serviceMatches(recogniseEntry('/home/u/.gnupg/S.gpg-agent', 'stream', [], {}), 'line')).toBe(false);
    expect(serviceMatches(null, 'http')).toBe(false);
  });
});

describe('kernelDev', () => {
  it("matches sock_diag's device of a listener's file (stat's glibc encoding -> the kernel's)", () => {
    const st = statSync('/tmp');
    const major = Math.floor(st.dev / 256) & 0xfff;
    const minor = (st.dev & 0xff) | ((Math.floor(st.dev / 4096) & ~0xff) >>> 0);
    expect(kernelDev(st.dev)).toBe(((major << 20) | minor) >>> 0);
    expect(kernelDev((8 << 8) | 3)).toBe((8 << 20) | 3);
    // minor 300: low 8 bits in 0-7, the rest from bit 20 on
    expect(kernelDev((259 << 8) | (300 & 0xff) | ((300 & ~0xff) << 12))).toBe(((259 << 20) | 300) >>> 0);
  });

  it('agrees with the kernel on a real socket', async () => {
    const t = dumpUnixSockets();
    if (t instanceof SockDiagUnavailable) throw new Error(t.reason);
    expect(t.length).toBeGreaterThan(0);
  });
});

describe('options', () => {
  it('--type: comma lists and repeats; others refused', () => {
    expect(parseLsTypes(['stream,dgram', 'tcp'])).toEqual(['stream', 'dgram', 'tcp']);
    expect(() => parseLsTypes(['pipe'])).toThrow(/--type must be one of/);
  });

  it('--watch: default 1s, a bare number is seconds, at least 100ms', () => {
    expect(watchInterval(true)).toBe(1000);
    expect(watchInterval('2')).toBe(2000);
    expect(watchInterval('250ms')).toBe(250);
    expect(() => watchInterval('10ms')).toThrow(/at least 100ms/);
    expect(() => watchInterval('soon')).toThrow(/duration/);
  });

  it('--watch VALUE: a path, `.`, @prefix or a folder here is the first path; anything else is the interval', () => {
    for (const v of ['/run', '.', '..', './x', '@app', 'run/php', '~/x', 'src']) expect(looksLikePath(v)).toBe(true);
    for (const v of ['2', '2s', '500ms', 'abc', '-1', '1e3']) expect(looksLikePath(v)).toBe(false);
  });

  it('--service: a service or a known socket; others refused with the names', () => {
    expect(parseLsService(undefined)).toBeUndefined();
    for (const n of ['postgresql', 'fastcgi', 'http', 'docker', 'listen-only', 'ssh-agent']) expect(parseLsService(n)).toBe(n);
    expect(() => parseLsService('postgres')).toThrow(/--service must be one of .*postgresql/);
    expect(() => parseLsService('line')).toThrow(/--service must be one of/);
  });

  it('loopback and any-addresses', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '0.0.0.0', '::', '::ffff:7f00:1']) expect(isLoopbackOrAny(a)).toBe(true);
    for (const a of ['10.0.0.1', '192.168.1.1', 'fe80::1']) expect(isLoopbackOrAny(a)).toBe(false);
  });
});
