/**
 * `udsctl completion bash|zsh|fish`: the scripts come from buildProgram(), and
 * the bash one is run in a real bash (COMP_WORDS/COMP_CWORD set as bash's
 * completion does, then the generated function called), the zsh one in an
 * interactive zsh in a pty, the fish one by `fish -c 'complete -C LINE'`, after
 * `zsh -n` / `fish -n`. zsh or fish not installed: those skip (strict: fail).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Option } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli.js';
import { completionModel, completionScript } from '../../src/commands/completion.js';
import { killChildren, run } from '../helpers/children.js';
import { FIXTURES } from '../helpers/peers.js';
import { requirePeers } from '../helpers/requirements.js';
import { runCli } from '../helpers/run-cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';

afterEach(killChildren);

/**
 * What the bash completion offers for a command line being typed (`line`; a
 * trailing space starts a new, empty word), run in `cwd`.
 */
async function complete(script: string, line: string, cwd: string): Promise<string[]> {
  // As bash splits them: at spaces, and around each = (COMP_WORDBREAKS): --fault=n is --fault, =, n.
  const words = line.split(' ').flatMap((w) => (w.includes('=') ? w.split(/(=)/).filter((p) => p !== '') : [w]));
  const cmd = [
    'source "$1"',
    'shift',
    'COMP_WORDS=("$@")',
    'COMP_CWORD=$((${#COMP_WORDS[@]} - 1))',
    'COMP_LINE="${COMP_WORDS[*]}"',
    '_udsctl',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const r = await run('bash', ['-c', cmd, 'bash', script, ...words], { cwd, timeoutMs: 10_000 });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout.split('\n').filter(Boolean).sort();
}

describe('udsctl completion bash, run in bash', () => {
  it('completes commands, options, option choices and socket paths', async () => {
    const out = await runCli(['completion', 'bash']);
    expect(out.status).toBe(0);
    expect(out.stderr).toBe('');
    const dir = tmpDir();
    const script = join(dir, 'udsctl.bash');
    writeFileSync(script, out.stdout);
    const cwd = join(dir, 'cwd');
    mkdirSync(join(cwd, 'run'), { recursive: true });
    writeFileSync(join(cwd, 'app.sock'), '');
    writeFileSync(join(cwd, 'run', 'db.sock'), '');

    expect(await complete(script, 'udsctl pr', cwd)).toEqual(['probe']);
    expect(await complete(script, 'udsctl ', cwd)).toEqual(['bench', 'completion', 'help', 'ls', 'probe', 'send', 'serve']);
    expect(await complete(script, 'udsctl probe --for', cwd)).toEqual(['--format']);
    // the choices of an option: commander's .choices() and a choiceOption() parser alike
    expect(await complete(script, 'udsctl probe --format ', cwd)).toEqual(['human', 'json', 'nagios', 'openmetrics']);
    expect(await complete(script, 'udsctl bench -m p', cwd)).toEqual(['persistent']);
    expect(await complete(script, 'udsctl serve --fault n', cwd)).toEqual(['never-close', 'no-newline']);
    expect(await complete(script, 'udsctl serve --engine ', cwd)).toEqual(['auto', 'epoll', 'net']);
    // --opt=value, which bash splits at the =
    expect(await complete(script, 'udsctl serve --fault=n', cwd)).toEqual(['never-close', 'no-newline']);
    expect(await complete(script, 'udsctl serve --engine=', cwd)).toEqual(['auto', 'epoll', 'net']);
    expect(await complete(script, 'udsctl send --until=line a', cwd)).toEqual(['app.sock']);
    expect(await complete(script, 'udsctl send --until=line app.sock ', cwd)).toEqual([]);
    expect(await complete(script, 'udsctl completion ', cwd)).toEqual(['bash', 'fish', 'zsh']);
    // a target is a path; an option's value is skipped when counting arguments
    expect(await complete(script, 'udsctl send a', cwd)).toEqual(['app.sock']);
    expect(await complete(script, 'udsctl probe -t 2s run/', cwd)).toEqual(['run/db.sock']);
    expect(await complete(script, 'udsctl send --until line ', cwd)).toEqual(['app.sock', 'run']);
    // after the target, send's message is free text: no file names
    expect(await complete(script, 'udsctl send app.sock ', cwd)).toEqual([]);
    // a free value (a duration) is not completed with file names either
    expect(await complete(script, 'udsctl probe --timeout ', cwd)).toEqual([]);
  });

  it('has every option of every command in --help, with no hand-kept list', () => {
    const program = buildProgram();
    const script = completionScript('bash', completionModel(program));
    for (const cmd of program.commands) {
      for (const o of cmd.options) if (o.long) expect(script, `${cmd.name()} ${o.long}`).toContain(o.long);
    }
  });

  it('an option added to the program is completed, with its choices, without touching the generator', () => {
    const program = buildProgram();
    program.commands
      .find((c) => c.name() === 'probe')!
      .addOption(new Option('--colour-test <when>', 'a test option').choices(['always', 'never']));
    const model = completionModel(program);
    const probe = model.commands.find((c) => c.name === 'probe')!;
    expect(probe.options.find((o) => o.long === '--colour-test')?.value).toEqual({ kind: 'choices', choices: ['always', 'never'] });
    expect(completionScript('bash', model)).toContain("--colour-test) COMPREPLY=($(compgen -W 'always never'");
  });

  it('an unknown shell is a usage error naming the choices', async () => {
    const r = await runCli(['completion', 'tcsh']);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/bash, zsh, fish/);
  });
});

describe('zsh and fish: the scripts parse and complete', () => {
  it('zsh: zsh -n accepts the script, and TAB offers commands, choices and paths', async () => {
    requirePeers('zsh');
    const out = await runCli(['completion', 'zsh']);
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/^#compdef udsctl\n/);
    expect(out.stdout).toContain('(human json nagios openmetrics)');
    expect(out.stdout).toContain("'1:target:_files'");
    const file = join(tmpDir(), '_udsctl');
    writeFileSync(file, out.stdout);
    const r = await run('zsh', ['-n', file], { timeoutMs: 10_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // And what an interactive zsh offers on TAB (test/fixtures/zsh-complete.zsh drives one in a pty).
    const cwd = tmpDir();
    writeFileSync(join(cwd, 'app.sock'), '');
    const offered = async (line: string) => {
      const c = await run('zsh', [join(FIXTURES, 'zsh-complete.zsh'), file, line], { cwd, timeoutMs: 20_000 });
      expect(c.code, c.stderr).toBe(0);
      return c.stdout.split('\n').filter(Boolean).sort();
    };
    expect(await offered('udsctl pr')).toEqual(['probe']);
    expect(await offered('udsctl bench --mode ')).toEqual(['oneshot', 'persistent']);
    expect(await offered('udsctl serve --fault n')).toEqual(['never-close', 'no-newline']);
    expect(await offered('udsctl send a')).toEqual(['app.sock']);
  }, 90_000);

  it('fish: fish -n accepts the script, and complete -C offers commands, choices and paths', async () => {
    requirePeers('fish');
    const out = await runCli(['completion', 'fish']);
    expect(out.status).toBe(0);
    expect(out.stdout).toContain("-a 'oneshot persistent'");
    const file = join(tmpDir(), 'udsctl.fish');
    writeFileSync(file, out.stdout);
    const r = await run('fish', ['-n', file], { timeoutMs: 10_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // fish completes a command line non-interactively: `complete -C LINE` prints the candidates.
    const cwd = tmpDir();
    writeFileSync(join(cwd, 'app.sock'), '');
    const offered = async (line: string) => {
      const c = await run('fish', ['-c', `source ${file}; complete -C '${line}'`], { cwd, timeoutMs: 10_000 });
      expect(c.stderr).toBe('');
      return c.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0]).sort();
    };
    expect(await offered('udsctl pr')).toEqual(['probe']);
    expect(await offered('udsctl bench --mode ')).toEqual(['oneshot', 'persistent']);
    expect(await offered('udsctl serve --fault n')).toEqual(['never-close', 'no-newline']);
    expect(await offered('udsctl send a')).toEqual(['app.sock']);
  });
});

