import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli.js';
import { EXIT_TABLE } from '../src/exit-codes.js';

const man = readFileSync(new URL('../man/udsctl.1', import.meta.url), 'utf8');
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const manText = man.replace(/\\-/g, '-').replace(/\\f[BIRP]/g, '');

describe('man page', () => {
  it('renders with groff -man -ww without a single warning', () => {
    const r = spawnSync('groff', ['-man', '-ww', '-z', 'man/udsctl.1'], { encoding: 'utf8' });
    expect(r.error).toBeUndefined();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('has the sections a manual needs', () => {
    for (const sh of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'EXIT STATUS', 'ENVIRONMENT', 'EXAMPLES']) {
      expect(man).toMatch(new RegExp(`^\\.SH ${sh}$`, 'm'));
    }
  });

  it('renders as text with man', () => {
    const out = execFileSync('groff', ['-man', '-Tutf8', 'man/udsctl.1'], { encoding: 'utf8' });
    expect(out).toMatch(/udsctl send/);
  });
});

describe('--help, man page and README agree', () => {
  const program = buildProgram();
  for (const cmd of program.commands) {
    const longs = cmd.options.map((o) => o.long).filter((l): l is string => !!l && l !== '--help');
    it(`every option of "udsctl ${cmd.name()}" is in the man page and the README`, () => {
      expect(man).toMatch(new RegExp(`^\\.SS udsctl ${cmd.name()}\\b`, 'm'));
      for (const long of longs) {
        expect(manText, `${long} missing from man/udsctl.1`).toContain(long);
        expect(readme, `${long} missing from README.md`).toContain(long);
      }
    });
  }

  it('the exit status table is the one in the code', () => {
    for (const row of EXIT_TABLE) {
      expect(readme).toMatch(new RegExp(`^\\| ${row.status} \\|`, 'm'));
      expect(man).toMatch(new RegExp(`^\\.B ${row.status}\\n`, 'm'));
    }
  });
});
