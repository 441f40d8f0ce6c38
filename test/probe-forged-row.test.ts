/**
 * Issue 19 item 6: /proc/net/unix is text with names printed raw, so any user
 * can bind an abstract name holding a newline and a whole forged row. probe
 * reads listeners from sock_diag (names as bytes), so a forged row names no
 * one: probe of an absent path must not report SOCKET_DELETED naming the
 * forger's process.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { killChildren } from './helpers/children.js';
import { lsPeer } from './helpers/ls-peers.js';
import { cleanup, probeJson } from './fixtures/probe-helpers.js';
import { tmpDir } from './helpers/tmp-dir.js';

afterEach(cleanup);
afterEach(killChildren);

it('a forged /proc/net/unix row (a newline in an abstract name) is not taken for a listener of a deleted file', async () => {
  const absent = join(tmpDir(), 'absent.sock');
  const forger = await lsPeer(['forge', absent], { asOther: true });
  // The forgery is there in the text, as a row of its own that claims the path.
  const rows = readFileSync('/proc/net/unix', 'utf8').split('\n');
  expect(rows.some((r) => r.endsWith(` ${forger.inode} ${absent}`))).toBe(true);

  const { t } = await probeJson([absent, '--timeout', '300ms', '--connect-timeout', '300ms']);
  const codes = t.findings.map((f: { code: string }) => f.code);
  expect(codes).not.toContain('SOCKET_DELETED');
  expect(codes).toContain('NOT_FOUND');
  expect(JSON.stringify(t)).not.toContain(`pid ${forger.pid}`);
});
