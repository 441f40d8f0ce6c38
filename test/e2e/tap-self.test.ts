/**
 * A tap whose upstream is its own address (issue 19 item 5): one client made
 * about 10,000 chained connections. Refused as a usage error before anything
 * is bound: the same path, a symlink to it, the same abstract name.
 */
import { existsSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, runCli } from '../helpers/run-cli.js';
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
});
