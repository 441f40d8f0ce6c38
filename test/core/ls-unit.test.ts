/**
 * ls's pure parts: recognition by name/process/port, the stat dev_t to the
 * kernel's, loopback addresses, the --type and --watch parsers, sorting.
 */
import { statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseLsTypes, watchInterval } from '../../src/commands/ls.js';
import { isLoopbackOrAny, kernelDev } from '../../src/core/ls/list.js';
import { recogniseByName, recogniseTcp } from '../../src/core/ls/recognise.js';
import { dumpUnixSockets, SockDiagUnavailable } from '../../src/core/socket/sock-diag.js';

describe('recogniseByName', () => {
  const cases: [string, string | null, string | null][] = [
    ['/run/postgresql/.s.PGSQL.5432', null, 'postgresql'],
    ['/var/run/docker.sock', null, 'docker'],
    ['/run/php/php8.2-fpm.sock', null, 'fastcgi'],
    ['/run/mysqld/mysqld.sock', null, 'mysql'],
    ['/run/dbus/system_bus_socket', null, 'dbus'],
    ['/run/redis/redis-server.sock', null, 'redis'],
    ['/srv/app/app.sock', 'php-fpm8.2', 'fastcgi'],
    ['/srv/app/app.sock', 'nginx', 'http'],
    ['@/tmp/dbus-AbCdEf12', null, 'dbus'],
    ['/srv/app/app.sock', null, null],
    ['/srv/app/app.sock', 'python3', null],
  ];
  for (const [name, proc, want] of cases) {
    it(`${name}${proc ? ` held by ${proc}` : ''} -> ${want}`, () => {
      expect(recogniseByName(name, proc, {})?.service ?? null).toBe(want);
    });
  }

  it('$SSH_AUTH_SOCK is the ssh agent, whatever its name', () => {
    expect(recogniseByName('/tmp/x/y', null, { SSH_AUTH_SOCK: '/tmp/x/y' })).toEqual({ service: 'ssh-agent', why: '$SSH_AUTH_SOCK' });
  });

  it('TCP: the process first, then the well-known port', () => {
    expect(recogniseTcp(5432, null)?.service).toBe('postgresql');
    expect(recogniseTcp(12345, 'redis-server')?.service).toBe('redis');
    expect(recogniseTcp(12345, null)).toBeNull();
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

  it('loopback and any-addresses', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '0.0.0.0', '::', '::ffff:7f00:1']) expect(isLoopbackOrAny(a)).toBe(true);
    for (const a of ['10.0.0.1', '192.168.1.1', 'fe80::1']) expect(isLoopbackOrAny(a)).toBe(false);
  });
});
