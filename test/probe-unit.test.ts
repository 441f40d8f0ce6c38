/**
 * probe's core as a library, in process: the findings table, /proc/net/unix
 * parsing, the permission analysis with chosen identities, probe()/probeAll()
 * on real sockets, the renderers, and the docs written from the table.
 */
import { chmodSync, lchownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROBE_EXIT_TABLE } from '../src/commands/probe.js';
import { CHECKS, FINDINGS, SEVERITIES, SEVERITY_EXIT, probe, probeAll, worstSeverity } from '../src/core/probe.js';
import { startServer } from '../src/core/serve/engine-net.js';
import type { Identity } from '../src/core/socket/identity.js';
import { inspectPath, modeString } from '../src/core/socket/path-access.js';
import { listenersFor, parseProcNetUnix } from '../src/core/socket/server-sockets.js';
import { probeHuman, probeNagios, probeRunToJson } from '../src/render/probe.js';
import { Chalk } from 'chalk';
import { IS_ROOT, ME } from './helpers/requirements.js';
import { tmpDir } from './helpers/tmp-dir.js';

const plain = new Chalk({ level: 0 });

describe('the findings table', () => {
  it('has every finding the issue names, each with a stable code, a severity, one-line cause and fix', () => {
    const codes = FINDINGS.map((f) => f.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const c of ['OK', 'NOT_FOUND', 'NOT_A_SOCKET', 'PERMISSION_DENIED', 'STALE_SOCKET', 'CONNECT_TIMEOUT', 'BACKLOG_FULL',
      'SILENT', 'CLOSED_WITHOUT_REPLY', 'RESET', 'PARTIAL_REPLY', 'MISMATCH', 'NO_NEWLINE', 'NEVER_CLOSED', 'SLOW']) {
      expect(codes).toContain(c);
    }
    for (const f of FINDINGS) {
      expect(f.code).toMatch(/^[A-Z_]+$/);
      expect(SEVERITIES).toContain(f.severity);
      if (f.check !== null) expect(CHECKS).toContain(f.check);
      for (const text of [f.title, f.cause, f.fix]) {
        expect(text.length).toBeGreaterThan(3);
        expect(text).not.toMatch(/\n/);
      }
    }
    const nc = FINDINGS.find((f) => f.code === 'NEVER_CLOSED')!;
    expect(nc.cause).toBe('clients that read until end-of-file block forever');
    expect(nc.fix).toContain('Go: `defer conn.Close()`');
  });

  it('severities map to monitoring-plugin exit statuses; the worst wins', () => {
    expect(SEVERITY_EXIT).toEqual({ OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 });
    expect(worstSeverity([])).toBe('OK');
    expect(worstSeverity(['OK', 'WARNING'])).toBe('WARNING');
    expect(worstSeverity(['WARNING', 'UNKNOWN'])).toBe('UNKNOWN');
    expect(worstSeverity(['UNKNOWN', 'CRITICAL', 'OK'])).toBe('CRITICAL');
    expect(PROBE_EXIT_TABLE.map((r) => r.status)).toEqual([0, 1, 2, 3]);
  });
});

describe('/proc/net/unix', () => {
  const text = [
    'Num       RefCount Protocol Flags    Type St Inode Path',
    '0000000000000000: 00000002 00000000 00010000 0001 01 12563 /run/app.sock',
    '0000000000000000: 00000002 00000000 00000000 0001 03 12564 /run/app.sock',
    '0000000000000000: 00000002 00000000 00010000 0001 01 12565 @engine',
    '0000000000000000: 00000002 00000000 00010000 0001 01 12566 rel/dir.sock',
    '0000000000000000: 00000002 00000000 00010000 0001 01 12567 /tmp/with space.sock',
    '0000000000000000: 00000003 00000000 00000000 0001 03 1061',
    '',
  ].join('\n');

  it('parses rows: inode, path (spaces kept), listening flag', () => {
    const rows = parseProcNetUnix(text);
    expect(rows).toHaveLength(6);
    expect(rows[0]).toEqual({ inode: 12563, path: '/run/app.sock', type: 1, listening: true });
    expect(rows[1].listening).toBe(false);
    expect(rows[4].path).toBe('/tmp/with space.sock');
    expect(rows[5]).toMatchObject({ inode: 1061, path: '', listening: false });
  });

  it('finds the listeners of a path, an abstract name, and a relative binding', () => {
    const rows = parseProcNetUnix(text);
    expect(listenersFor(rows, { path: '/run/app.sock' }).map((r) => r.inode)).toEqual([12563]);
    expect(listenersFor(rows, { abstract: '@engine' }).map((r) => r.inode)).toEqual([12565]);
    expect(listenersFor(rows, { path: '/srv/x/rel/dir.sock' }).map((r) => r.inode)).toEqual([12566]);
    expect(listenersFor(rows, { path: '/tmp/with space.sock' }).map((r) => r.inode)).toEqual([12567]);
    expect(listenersFor(rows, { path: '/run/other.sock' })).toEqual([]);
  });
});

describe('permission analysis (inspectPath with a chosen identity)', () => {
  // The socket files belong to whoever runs the tests (ME); alice is someone else.
  const aliceId = ME.uid === 1000 ? 1001 : 1000;
  const alice: Identity = { uid: aliceId, gid: aliceId, groups: [aliceId], name: 'alice', describe: `uid ${aliceId} (alice)` };
  const inMyGroup: Identity = { ...alice, groups: [aliceId, ME.gid] };
  const owners = `${ME.user}:${ME.group}`;

  async function socketFile(mode: number, dirMode = 0o755): Promise<{ dir: string; sock: string; close: () => Promise<void> }> {
    const dir = join(tmpDir(), 'd');
    mkdirSync(dir);
    chmodSync(join(dir, '..'), 0o755);
    chmodSync(dir, dirMode);
    const sock = join(dir, 's.sock');
    const server = await startServer(sock, { perm: mode });
    return { dir, sock, close: () => server.close() };
  }

  it('modeString is what ls prints', async () => {
    const dir = tmpDir();
    const f = join(dir, 'f');
    writeFileSync(f, '');
    chmodSync(f, 0o4755);
    expect(modeString(await lstat(f))).toBe('-rwsr-xr-x');
    chmodSync(dir, 0o1777);
    expect(modeString(await lstat(dir))).toBe('drwxrwxrwt');
  });

  it('other: not the owner, not in the group', async () => {
    const s = await socketFile(0o660);
    try {
      const p = await inspectPath(s.sock, alice);
      expect(p.state).toBe('socket');
      expect(p.access.allowed).toBe(false);
      expect(p.access.reason).toBe(`srw-rw---- ${owners}; you are ${alice.describe}, not ${ME.user} and not in group ${ME.group}`);
      expect(p.access.fix).toContain(`usermod -aG ${ME.group} alice`);
      expect((await inspectPath(s.sock, inMyGroup)).access.allowed).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('the owner class alone applies to the owner, even when other may write', async () => {
    const s = await socketFile(0o466);
    try {
      // Root hands the file to alice; anyone else is its owner already (and is not root, whom no mode stops).
      const owner: Identity = IS_ROOT ? alice : { uid: ME.uid, gid: ME.gid, groups: [ME.gid], name: ME.user, describe: `uid ${ME.uid} (${ME.user})` };
      if (IS_ROOT) lchownSync(s.sock, alice.uid, alice.gid);
      const p = await inspectPath(s.sock, owner);
      expect(p.access.allowed).toBe(false);
      expect(p.access.reason).toContain(`you are its owner (${owner.describe}), but the owner has no write permission`);
    } finally {
      await s.close();
    }
  });

  it('a group without write permission', async () => {
    const s = await socketFile(0o640);
    try {
      const p = await inspectPath(s.sock, inMyGroup);
      expect(p.access.allowed).toBe(false);
      expect(p.access.reason).toContain(`in group ${ME.group}, but the group has no write permission`);
    } finally {
      await s.close();
    }
  });

  it('a parent directory without search permission', async () => {
    const s = await socketFile(0o666, 0o700);
    try {
      const p = await inspectPath(s.sock, alice);
      expect(p.state).toBe('unreachable');
      expect(p.blockedDir?.path).toBe(s.dir);
      expect(p.access.reason).toBe(`parent directory ${s.dir} (drwx------ ${owners}) has no search (x) permission for ${alice.describe}`);
    } finally {
      await s.close();
    }
  });

  it('root may connect anywhere', async () => {
    const s = await socketFile(0o600, 0o700);
    try {
      const root: Identity = { uid: 0, gid: 0, groups: [0], name: 'root', describe: 'uid 0 (root)' };
      expect((await inspectPath(s.sock, root)).access).toMatchObject({ allowed: true });
    } finally {
      await s.close();
    }
  });
});

describe('probe() and probeAll() as a library', () => {
  it('names a server that never closes, and renders it three ways', async () => {
    const sock = join(tmpDir(), 'nc.sock');
    const server = await startServer(sock, { fault: 'never-close' });
    try {
      const r = await probe(sock, { closeTimeout: 200 });
      expect(r.status).toBe('CRITICAL');
      expect(r.finding.code).toBe('NEVER_CLOSED');
      expect(r.checks.map((c) => c.status)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'fail']);
      const human = probeHuman(r, plain);
      expect(human[0]).toBe(`CRITICAL ${sock}: replied but never closed [NEVER_CLOSED]`);
      expect(human).toContain('  cause: clients that read until end-of-file block forever');
      const nagios = probeNagios('CRITICAL', [r], { warn: 1000 });
      expect(nagios).toMatch(/^CRITICAL: .* \| time=\d+\.\d{6}s;1\.000000;;0 size=16B;;;0\n$/);
      const json = probeRunToJson('CRITICAL', [r]) as { targets: Array<Record<string, unknown>> };
      expect(json.targets[0]).toMatchObject({ code: 'NEVER_CLOSED', exitStatus: 2, contract: 'one-shot' });
    } finally {
      await server.close();
    }
  });

  it('probeAll: the worst status of several', async () => {
    const dir = tmpDir();
    const server = await startServer(join(dir, 'ok.sock'));
    try {
      const { status, reports } = await probeAll([join(dir, 'ok.sock'), join(dir, 'missing.sock')]);
      expect(status).toBe('CRITICAL');
      expect(reports.map((r) => r.finding.code)).toEqual(['OK', 'NOT_FOUND']);
    } finally {
      await server.close();
    }
  });

  it('wait: calls onAttempt for each attempt and stops at the deadline', async () => {
    const seen: number[] = [];
    const r = await probe(join(tmpDir(), 'none.sock'), { wait: 250, interval: 50, onAttempt: (_r, n) => seen.push(n) });
    expect(r.finding.code).toBe('NOT_FOUND');
    expect(r.attempts).toBe(seen.length);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(r.wait).toMatchObject({ ms: 250, intervalMs: 50, gaveUp: true });
  });

  it('an aborted probe is UNKNOWN (PROBE_ERROR), never OK', async () => {
    const sock = join(tmpDir(), 'silent.sock');
    const server = await startServer(sock, { fault: 'silent' });
    try {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 50);
      const r = await probe(sock, { signal: ac.signal, timeout: 5_000 });
      expect(r.status).toBe('UNKNOWN');
      expect(r.finding.code).toBe('PROBE_ERROR');
    } finally {
      await server.close();
    }
  });

  it('refuses options that contradict each other', async () => {
    await expect(probe('/tmp/x.sock', { contract: 'keep-alive', until: { kind: 'eof' } })).rejects.toMatchObject({ code: 'BAD_OPTION' });
    await expect(probe('/tmp/x.sock', { warn: 2000, crit: 1000 })).rejects.toMatchObject({ code: 'BAD_OPTION' });
    await expect(probe('', {})).rejects.toMatchObject({ code: 'BAD_TARGET' });
  });
});

describe('docs written from the table', () => {
  const readme = readFileSync(new URL('../docs/probe.md', import.meta.url), 'utf8');
  const man = readFileSync(new URL('../man/udsctl.1', import.meta.url), 'utf8').replace(/\\-/g, '-').replace(/\\f[BIRP]/g, '').replace(/\\e/g, '\\');
  // docs/probe.md is probe's whole reference (README.md links to it).
  const section = readme;

  it('docs/probe.md and the man page list every finding with its severity, cause and fix', () => {
    for (const f of FINDINGS) {
      const row = section.split('\n').find((l) => l.startsWith(`| \`${f.code}\` | ${f.severity}`));
      expect(row, `${f.code} missing from docs/probe.md`).toBeDefined();
      expect(row).toContain(` | ${f.title} | ${f.cause} | ${f.fix} |`);
      expect(man, `${f.code} missing from man page`).toContain(f.code);
    }
  });

  it('docs/probe.md and the man page carry probe\'s exit status table', () => {
    for (const row of PROBE_EXIT_TABLE) {
      expect(section).toMatch(new RegExp(`^\\| ${row.status} \\| ${row.severity} \\|`, 'm'));
      expect(man).toMatch(new RegExp(`^\\.B ${row.status}\\n${row.severity}`, 'm'));
    }
  });
});
