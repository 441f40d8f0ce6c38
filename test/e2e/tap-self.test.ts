/**
 * A tap whose upstream is its own address (issue 19 item 5): one client made
 * about 10,000 chained connections. Refused as a usage error before anything
 * is bound: the same path, a symlink to it, the same abstract name, the same
 * TCP port under another name (localhost, a wildcard listen).
 */
import { existsSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { collectStderr, killAll, runCli, startCli, waitExit, waitForStderr } from '../helpers/run-cli.js';
import { tmpDir, uniqueAbstractName } from '../helpers/tmp-dir.js';

afterEach(() => killAll());

describe('serve --upstream: not its own address', () => {
  it.each(['same path', 'symlink', 'relative', 'abstract'])('%s: exit 2, one line saying why, nothing bound', async (how) => {
    const dir = tmpDir();
    const path = join(dir, 's.sock');
    let up = path;
    let listen = path;
    if (how === 'symlink') symlinkSync('s.sock', (up = join(dir, 'link')));
    if (how === 'relative') listen = 's.sock';
    if (how === 'abstract') listen = up = uniqueAbstractName();
    const r = await runCli(['serve', '--upstream', up, listen], { timeoutMs: 5_000, cwd: dir });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(/is the address the tap listens on .*: it would relay every connection to itself$/);
    expect(existsSync(path)).toBe(false);
  });

  // The same TCP port under another name: the chain of one client's connections was thousands long.
  it.each([
    ['localhost for 127.0.0.1', 'localhost', '127.0.0.1'],
    ['127.0.0.1 for 0.0.0.0', '127.0.0.1', '0.0.0.0'],
    ['::ffff:127.0.0.1 for 127.0.0.1', '[::ffff:127.0.0.1]', '127.0.0.1'],
  ])('TCP, %s: exit 2, one line saying why, nothing listening', async (_how, upHost, listenHost) => {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const r = await runCli(['serve', '--upstream', `${upHost}:${port}`, `${listenHost}:${port}`], { timeoutMs: 5_000 });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(/is the address the tap listens on .*: it would relay every connection to itself$/);
  });

  it('TCP: another port, or an address the tap does not listen on, is allowed (the upstream down: each client closed)', async () => {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    for (const [up, listen] of [[`127.0.0.1:${port + 1}`, `127.0.0.1:${port}`], [`127.0.0.2:${port}`, `127.0.0.1:${port}`]]) {
      const r = await runCli(['serve', '--count', '1', '--upstream', up, listen], { timeoutMs: 3_000 });
      expect(r.stderr).not.toMatch(/relay every connection to itself/);
    }
  });

  // An upstream that becomes the tap after it started (a symlink made later): caught per connection, before
  // connecting (the path is the tap's own socket file); one client made ~13,000 descriptors' worth of chain before.
  it.each(['epoll', 'net'])('a symlink to the tap made after it started (%s engine): the client closed, no chain of connections', async (engine) => {
    const dir = tmpDir();
    const path = join(dir, 's.sock');
    const later = join(dir, 'later.sock');
    const tap = startCli(['serve', '--engine', engine, '--upstream', later, path]);
    const log = collectStderr(tap);
    await waitForStderr(tap, 'listening on', 15_000);
    symlinkSync(path, later);
    const r = await runCli(['send', '-t', '2s', path, 'hi'], { timeoutMs: 10_000 });
    expect(r.status, r.stderr).not.toBe(0);
    await new Promise((res) => setTimeout(res, 1_000));
    const text = log.text();
    expect(text).toMatch(/leads back to this tap \(it is the tap's own socket file now\): not relayed to itself/);
    // One refusal, for the client's connection: no connection to ourselves was made.
    expect(text.split('\n').filter((l) => /upstream (error|connected)/.test(l)).length, text).toBe(1);
    tap.kill('SIGTERM');
    expect(await waitExit(tap, 15_000)).toBe(0);
  });
});
