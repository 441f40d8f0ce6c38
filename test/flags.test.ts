import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { buildProgram } from '../src/cli.js';
import { SHORT_FLAGS, shortFlagTable } from '../src/short-flags.js';

const program = buildProgram();
const commands: [string, Command][] = [['udsctl', program], ...program.commands.map((c) => [c.name(), c] as [string, Command])];

describe('one table of short flags (src/short-flags.ts)', () => {
  for (const [name, cmd] of commands) {
    it(`every short flag of "${name === 'udsctl' ? 'udsctl' : `udsctl ${name}`}" is in the table, with its meaning`, () => {
      // commander's own -h, --help (on every command) and -V, --version (on the program).
      const help = (cmd as unknown as { _getHelpOption(): { short?: string; long?: string } | null })._getHelpOption();
      const all = [...cmd.options, ...(help ? [help] : [])].filter((o) => o.short);
      for (const o of all) {
        const row = SHORT_FLAGS.find((f) => f.short === o.short && f.long === o.long);
        expect(row, `${o.short}, ${o.long} of "${name}" is not in the table`).toBeDefined();
        if (o.long !== '--help') expect(row!.commands, `${o.short} on ${name}`).toContain(name);
      }
      // And the table claims nothing the command does not have.
      for (const f of SHORT_FLAGS.filter((r) => r.commands.includes(name as never))) {
        expect(all.some((o) => o.short === f.short && o.long === f.long), `table: ${f.short} ${f.long} on ${name}`).toBe(true);
      }
    });
  }

  it('a letter means one thing, except where a command follows a stronger convention and its help says so', () => {
    const byLetter = new Map<string, typeof SHORT_FLAGS>();
    for (const f of SHORT_FLAGS) byLetter.set(f.short, [...(byLetter.get(f.short) ?? []), f]);
    for (const [letter, rows] of byLetter) {
      if (rows.length === 1) continue;
      for (const r of rows) {
        expect(r.anchor, `${letter} has two meanings: ${r.long} needs its convention`).toBeTruthy();
        for (const c of r.commands) {
          const cmd = program.commands.find((x) => x.name() === c)!;
          const opt = cmd.options.find((o) => o.long === r.long)!;
          expect(opt.description, `${c} ${r.long}: its help names the convention`).toContain(r.anchor!.split(',')[0]);
        }
      }
      // No command has two meanings for one letter.
      const cmds = rows.flatMap((r) => r.commands);
      expect(new Set(cmds).size).toBe(cmds.length);
    }
  });

  it('-H is --header (as curl) on every command that speaks HTTP', () => {
    for (const c of ['send', 'probe', 'bench']) {
      const cmd = program.commands.find((x) => x.name() === c)!;
      expect(cmd.options.find((o) => o.short === '-H')?.long).toBe('--header');
      expect(cmd.options.find((o) => o.long === '--half-close')?.short).toBe('-N');
    }
  });

  it('the README and the man page carry the table', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(shortFlagTable());
    const man = readFileSync(new URL('../man/udsctl.1', import.meta.url), 'utf8').replace(/\\-/g, '-').replace(/\\f[BIRP]/g, '');
    const section = man.slice(man.indexOf('.SH SHORT OPTIONS'), man.indexOf('\n.SH ', man.indexOf('.SH SHORT OPTIONS') + 5));
    for (const f of SHORT_FLAGS) expect(section, `${f.short} ${f.long} in man SHORT OPTIONS`).toMatch(new RegExp(`^${f.short}, ${f.long}\\n.*${f.meaning.replace(/[()]/g, '.')}`, 'm'));
  });
});

/** Short flags of other tools, named in help prose to say what a flag is like (nc -N, hexdump -C, curl -H). */
const OTHER_TOOLS = new Set(['nc', 'hexdump', 'curl', 'redis-cli', 'socat', 'wrk', 'ab', 'hey', 'autocannon', 'ulimit', 'ss', 'lsof', 'grep', 'ssh-add', 'systemd-notify']);

describe('help prose names only flags its command has', () => {
  const fresh = buildProgram();
  for (const cmd of fresh.commands) {
    it(`every short flag named in "udsctl ${cmd.name()} --help" is one of its own`, () => {
      let text = '';
      cmd.configureOutput({ writeOut: (s) => void (text += s), writeErr: (s) => void (text += s) });
      cmd.outputHelp();
      const own = new Set(['-h', ...cmd.options.map((o) => o.short).filter((s): s is string => !!s)]);
      const strays: string[] = [];
      for (const line of text.split('\n')) {
        for (const m of line.matchAll(/(?<=(\S*)\s|\()(-[a-zA-Z])(?=[\s,.;:)=]|$)/g)) {
          if (own.has(m[2]) || OTHER_TOOLS.has((m[1] ?? '').replace(/^[("'`]+/, ''))) continue;
          strays.push(`${m[2]}: ${line.trim()}`);
        }
      }
      expect(strays).toEqual([]);
    });
  }
});
