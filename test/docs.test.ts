import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli.js';
import { EXIT_TABLE } from '../src/exit-codes.js';

const man = readFileSync(new URL('../man/udsctl.1', import.meta.url), 'utf8');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
/** The user's README and the reference, performance, architecture and development notes under docs/. */
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const docsText = new Map(DOCS.map((f) => [f, readFileSync(join(ROOT, f), 'utf8')]));
const allDocs = [...docsText.values()].join('\n');
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
    it(`every option of "udsctl ${cmd.name()}" is in the man page and in README.md or docs/`, () => {
      expect(man).toMatch(new RegExp(`^\\.SS udsctl ${cmd.name()}\\b`, 'm'));
      for (const long of longs) {
        expect(manText, `${long} missing from man/udsctl.1`).toContain(long);
        expect(allDocs, `${long} missing from README.md and docs/*.md`).toContain(long);
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

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
const slug = (h: string) =>
  h
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

describe('the docs cite what exists', () => {
  it('every file path cited (src/..., test/..., perf/..., docs/..., scripts/..., man/..., bin/...) exists', () => {
    const missing: string[] = [];
    for (const [file, text] of docsText) {
      for (const m of text.matchAll(/(?<![\w./-])((?:src|test|perf|docs|scripts|man|bin)\/[\w./*-]*[\w*])/g)) {
        const p = m[1].replace(/\/\*.*$/, '').replace(/\*.*$/, '');
        if (!existsSync(join(ROOT, p))) missing.push(`${file}: ${m[1]}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('every relative link and #anchor leads somewhere', () => {
    const broken: string[] = [];
    for (const [file, text] of docsText) {
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const [path, anchor] = m[1].split('#');
        if (/^[a-z]+:/.test(path)) continue; // https:, mailto:
        const target = path ? normalize(join(dirname(file), path)) : file;
        if (!existsSync(join(ROOT, target))) {
          broken.push(`${file}: ${m[1]}`);
          continue;
        }
        if (anchor && target.endsWith('.md')) {
          const heads = [...readFileSync(join(ROOT, target), 'utf8').matchAll(/^#+ (.*)$/gm)].map((h) => slug(h[1]));
          if (!heads.includes(anchor)) broken.push(`${file}: ${m[1]} (no such heading)`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('README.md stays a user\'s page: at most about 300 lines', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(320);
  });
});
