/**
 * Every README command marked runnable (```sh runnable) works as printed: the
 * blocks run in order in one bash, against real redis-server, nginx and
 * php-fpm, with `udsctl` on PATH. A line ending in `# exit N` must exit N,
 * every other line 0; a line ending in `&` runs in the background until the
 * end. /tmp/ becomes a fresh temp folder, so parallel runs never meet.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findTool, requirePeers } from '../helpers/requirements.js';
import { BIN, ROOT } from '../helpers/run-cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The runnable blocks' lines, in order. */
export function runnableLines(md: string): string[] {
  const blocks = [...md.matchAll(/^```sh runnable\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
  return blocks.flatMap((b) => b.split('\n')).filter((l) => l.trim() !== '');
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The bash script: each line checked for the exit status the README gives it. */
function script(lines: string[], out: string): string {
  const body = lines.map((line, i) => {
    const want = /#\s*exit (\d+)\s*$/.exec(line)?.[1] ?? '0';
    const cmd = line.replace(/\s+#[^'"]*$/, '');
    if (cmd.endsWith('&')) return `{ ${cmd.slice(0, -1).trimEnd()}; } >> ${q(out)} 2>&1 &`;
    return [
      `echo ${q(`$ ${cmd}`)} >> ${q(out)}`,
      `s=0; { ${cmd}; } >> ${q(out)} 2>&1 < /dev/null || s=$?`,
      `if [ "$s" != ${want} ]; then echo ${q(`README line ${i + 1}: ${cmd}`)}": exit $s, the README says ${want}"; tail -n 30 ${q(out)}; exit 1; fi`,
    ].join('\n');
  });
  return ['set -u', "trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT", ...body, 'echo README-OK'].join('\n');
}

describe('README: every runnable command works as printed', () => {
  it('has runnable blocks for each subcommand', () => {
    const lines = runnableLines(README);
    for (const c of ['send', 'serve', 'probe', 'bench']) expect(lines.some((l) => l.startsWith(`udsctl ${c} `))).toBe(true);
  });

  it('tells a clone how to get the `udsctl` the blocks call: its alias works from another directory', () => {
    const alias = /^(alias udsctl="[^"`]+")/m.exec(README)?.[1];
    expect(alias, 'README, Install: alias udsctl=...').toBeDefined();
    const dir = tmpDir('udsctl-readme-alias-');
    // The alias as the README prints it, typed in the clone; then used elsewhere, as the tour does.
    const r = spawnSync('bash', ['-c', `shopt -s expand_aliases\ncd ${q(ROOT)}\n${alias}\ncd ${q(dir)}\nudsctl --version`], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}` },
      timeout: 30_000,
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect(r.status).toBe(0);
  });

  it('runs them on redis-server, nginx and php-fpm', async () => {
    requirePeers('redis-server', 'nginx', 'php-fpm');
    const dir = tmpDir('udsctl-readme-');
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'udsctl'), `#!/bin/sh\nexec ${q(process.execPath)} ${q(BIN)} "$@"\n`);
    chmodSync(join(bin, 'udsctl'), 0o755);
    // The README names Debian's paths; elsewhere, wherever the tools are.
    const lines = runnableLines(README).map((l) =>
      l
        .replace(/\/tmp\//g, `${dir}/`)
        .replace(/\/usr\/sbin\/nginx\b/g, findTool('nginx')!)
        .replace(/\/usr\/sbin\/php-fpm8\.2\b/g, findTool('php-fpm')!),
    );
    // Files the README shows (```yaml file=PATH), written where it says.
    for (const m of README.matchAll(/^```\w+ file=(\S+)\n([\s\S]*?)^```$/gm)) {
      const path = m[1].replace(/^\/tmp\//, `${dir}/`);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, m[2].replace(/\/tmp\//g, `${dir}/`));
    }
    const out = join(dir, 'out.log');
    const child = spawn('bash', ['-c', script(lines, out)], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let text = '';
    child.stdout.on('data', (c: Buffer) => (text += c));
    child.stderr.on('data', (c: Buffer) => (text += c));
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 150_000);
    const status = await new Promise<number | null>((r) => child.on('close', r));
    clearTimeout(timer);
    // Anything the trap left behind: our process group, and the daemons that left it (php-fpm calls
    // setsid): SIGTERM so php-fpm's master ends its workers, then SIGKILL to its group.
    const kill = (pid: number, sig: NodeJS.Signals | 0) => {
      try {
        process.kill(pid, sig);
        return true;
      } catch {
        return false;
      }
    };
    kill(-child.pid!, 'SIGKILL');
    for (const f of ['tour/fpm.pid', 'tour/nginx.pid']) {
      const pid = existsSync(join(dir, f)) ? Number(readFileSync(join(dir, f), 'utf8')) : 0;
      if (!(pid > 1) || !kill(pid, 'SIGTERM')) continue;
      for (let i = 0; i < 100 && kill(pid, 0); i++) await new Promise((r) => setTimeout(r, 50));
      kill(-pid, 'SIGKILL');
      kill(pid, 'SIGKILL');
    }
    expect(text, text).toContain('README-OK');
    expect(status).toBe(0);
  }, 180_000);
});
