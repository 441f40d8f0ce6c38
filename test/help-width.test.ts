/**
 * 80 columns (issue 22): every --help, probe's and bench's reports fit 80
 * columns when stdout is not a terminal (or COLUMNS=80), and a wider terminal
 * (COLUMNS) gets wider help; an option's choices are listed once.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Option } from 'commander';
import stringWidth from 'string-width';
import { buildProgram } from '../src/cli.js';
import { fitHelp } from '../src/render/help.js';
import { spawnSync } from 'node:child_process';
import { BIN, runCli } from './helpers/run-cli.js';
import { run } from './helpers/children.js';
import { tmpDir } from './helpers/tmp-dir.js';
import { cleanup, serve } from './fixtures/probe-helpers.js';
import { afterEach } from 'vitest';

afterEach(cleanup);

const SUBCOMMANDS = ['', 'send', 'serve', 'probe', 'bench', 'ls', 'completion'];
const widest = (text: string) => Math.max(...text.split('\n').map((l) => stringWidth(l)));

describe('--help fits the terminal', () => {
  for (const sub of SUBCOMMANDS) {
    it(`udsctl ${sub} --help: at most 80 columns with COLUMNS=80`, async () => {
      const r = await runCli([...(sub ? [sub] : []), '--help'], { env: { COLUMNS: '80' } });
      expect(r.status).toBe(0);
      const long = r.stdout.split('\n').filter((l) => stringWidth(l) > 80);
      expect(long).toEqual([]);
    });
  }

  it('a wider terminal gets wider help (the fault table on one line a fault)', async () => {
    const wide = await runCli(['serve', '--help'], { env: { COLUMNS: '160' } });
    expect(widest(wide.stdout)).toBeGreaterThan(100);
    expect(wide.stdout).toMatch(/^ {2}never-close {10}reply, then keep the connection open: clients that read to end-of-file block forever$/m);
    const narrow = await runCli(['serve', '--help'], { env: { COLUMNS: '80' } });
    expect(narrow.stdout).toMatch(/^ {2}never-close {10}reply, then keep the connection open: clients that read\n {23}to end-of-file block forever$/m);
  });

  it('wrapped examples stay commands: continued with " \\", never inside quotes', () => {
    const out = fitHelp(`  udsctl send -i --http /api -X POST -H 'Content-Type: application/json' --data '{"a":1}' /run/app.sock`, 80).split('\n');
    expect(out).toEqual([`  udsctl send -i --http /api -X POST -H 'Content-Type: application/json' \\`, `      --data '{"a":1}' /run/app.sock`]);
    const comment = fitHelp('  udsctl completion bash > /etc/bash_completion.d/udsctl      # or: source <(udsctl completion bash) in ~/.bashrc', 80).split('\n');
    for (const l of comment) expect(stringWidth(l)).toBeLessThanOrEqual(80);
    expect(comment[1].trimStart().startsWith('#')).toBe(true);
  });

  it('an option whose description names its choices does not list them again', () => {
    const program = buildProgram();
    for (const cmd of program.commands) {
      const help = cmd.createHelp();
      for (const o of cmd.options.filter((x: Option) => x.argChoices)) {
        const text = help.optionDescription(o);
        const before = text.split('(choices:')[0];
        const named = o.argChoices!.every((c) => before.includes(c));
        expect(named && text.includes('(choices:'), `${cmd.name()} ${o.long}: ${text}`).toBe(false);
      }
    }
    const send = program.commands.find((c) => c.name() === 'send')!;
    const type = send.createHelp().optionDescription(send.options.find((o) => o.long === '--type')!);
    expect(type.match(/seqpacket/g)).toHaveLength(1);
  });
});

describe('reports fit 80 columns', () => {
  const LONG = 'a-long-folder-name-for-the-report-past-80-columns';

  it('probe, a long path, healthy and not found', async () => {
    const dir = join(tmpDir(), LONG);
    await import('node:fs').then((fs) => fs.mkdirSync(dir));
    await serve(join(dir, 'a-long-socket-name-as-well.sock'));
    const r = await runCli(['probe', join(dir, 'a-long-socket-name-as-well.sock'), join(dir, 'missing-socket-with-a-long-name.sock')]);
    expect(r.status).toBe(2);
    expect(r.stdout.split('\n').filter((l) => stringWidth(l) > 80)).toEqual([]);
    expect(r.stdout).toContain('NOT_FOUND');
  });

  it('bench, a long path', async () => {
    const dir = join(tmpDir(), LONG);
    await import('node:fs').then((fs) => fs.mkdirSync(dir));
    await serve(join(dir, 'a-long-socket-name-as-well.sock'));
    const r = await runCli(['bench', '-n', '200', '-c', '2', '--workers', '1', join(dir, 'a-long-socket-name-as-well.sock')], { timeoutMs: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('Latency');
    expect(r.stdout.split('\n').filter((l) => stringWidth(l) > 80)).toEqual([]);
  });

  it('the notes of a bare `udsctl probe` and `udsctl bench` fit an 80-column terminal; one line each in a pipe', async () => {
    if (spawnSync('script', ['--version']).status !== 0) return; // util-linux script(1) makes the pseudo-terminal
    const dir = tmpDir();
    const { CI: _ci, UDSCTL_SOCKET: _s, ...env } = process.env;
    // CI=true: no live progress line in bench, so the pty holds only the notes and the report.
    const term = { ...env, NO_COLOR: '1', TERM: 'xterm', CI: 'true' };
    const inPty = (args: string) => run('script', ['-qec', `stty cols 80 rows 40; exec ${process.execPath} ${BIN} ${args}`, '/dev/null'], { timeoutMs: 60_000, env: term, cwd: dir });
    for (const [args, note] of [
      ['probe -t 200ms', /no target and no udsctl\.yaml here: probing \S+/],
      ['bench -n 200 -c 2 --workers 1', /no target given: benchmarking udsctl's own server/],
    ] as const) {
      const tty = await inPty(args);
      const lines = tty.stdout.replace(/\r/g, '').split('\n');
      expect(lines.filter((l) => stringWidth(l) > 80), args).toEqual([]);
      expect(lines.join(' ').replace(/ {2,}/g, ' '), args).toMatch(note);
      const pipe = await runCli(args.split(' '), { cwd: dir, env: { UDSCTL_SOCKET: '' }, timeoutMs: 60_000 });
      expect(pipe.stderr, args).toMatch(new RegExp(`^udsctl \\w+: ${note.source}.*$`, 'm'));
    }
  }, 120_000);
});
