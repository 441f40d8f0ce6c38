/**
 * The engines table (src/core/serve/engines.ts) is the one place that says
 * which engine serves which fault and option on which socket type: engine
 * choice (createServe/chooseEngine), `serve --help` and the man page must
 * say exactly what it says.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UdsError, createServe, parseTarget } from '../src/index.js';
import { ENGINES, ENGINE_OPTIONS, ENGINE_TABLE_HEADER, type EngineOption, type EngineRow, engineSupportLines } from '../src/core/serve/engines.js';
import { epollUnsupported } from '../src/core/serve/epoll/server.js';
import { FAULTS } from '../src/core/serve/options.js';
import { type StartServeOptions, chooseEngine } from '../src/core/serve/start.js';
import { runCli } from './helpers/run-cli.js';
import { tmpDir } from './helpers/tmp-dir.js';
import { join } from 'node:path';

/** Runs of spaces as one: the lines are padded as a table. */
const norm = (l: string) => l.trim().replace(/\s+/g, ' ');
const TABLE = engineSupportLines().map(norm);

describe('the man page and serve --help list exactly the table', () => {
  it('man/udsctl.1: the engines-table block', () => {
    const man = readFileSync(new URL('../man/udsctl.1', import.meta.url), 'utf8');
    const block = /^\.\\" engines-table begin.*\n([\s\S]*?)^\.\\" engines-table end$/m.exec(man);
    expect(block, 'the engines-table markers in the man page').not.toBeNull();
    // A row may go on over lines that start with spaces (the page is read at 80 columns).
    const lines = block![1]
      .replace(/\n[ \t]+/g, ' ')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => norm(l.replace(/\\-/g, '-')));
    expect(lines).toEqual(TABLE);
  });

  it('serve --help: the lines under the table header', async () => {
    const r = await runCli(['serve', '--help'], { env: { COLUMNS: '300' } });
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    const at = lines.indexOf(ENGINE_TABLE_HEADER);
    expect(at, 'the table header in serve --help').toBeGreaterThan(0);
    const rows = lines.slice(at + 1, at + 1 + ENGINES.length).map(norm);
    expect(rows).toEqual(TABLE);
    expect(norm(lines[at + 1 + ENGINES.length])).toBe('');
  });
});

describe('engine choice reads the table', () => {
  const unix = parseTarget('/nonexistent-dir/t.sock');
  const epollHere = epollUnsupported(unix, {}) === null;
  const base = (row: EngineRow): StartServeOptions => ({
    // A stream row is asked for by name; the message engine is the only one of its types.
    engine: row.type === 'stream' ? (row.engine as 'net' | 'epoll') : 'auto',
    socketType: row.type,
    ...(row.role === 'tap' ? { upstream: '/nonexistent-dir/up.sock', quiet: true } : {}),
  });
  const ASK: Record<EngineOption, StartServeOptions> = { delay: { delay: 100 }, keepAlive: { keepAlive: true }, read: { read: 'line' }, workers: { workers: 2 }, tcp: {} };
  const expectChoice = (row: EngineRow, o: StartServeOptions, ok: boolean, what: string) => {
    const target = o === ASK.tcp ? parseTarget('127.0.0.1:0') : unix;
    if (ok) expect(chooseEngine(target, { ...base(row), ...o }), what).toBe(row.engine);
    else expect(() => chooseEngine(target, { ...base(row), ...o }), what).toThrow(UdsError);
  };

  for (const row of ENGINES) {
    it(`${row.engine} ${row.role}, ${row.type}: serves its faults and options, refuses the others`, (ctx) => {
      if (row.engine === 'epoll' && !epollHere) ctx.skip();
      expectChoice(row, {}, true, 'no option');
      for (const fault of FAULTS) expectChoice(row, { fault }, row.faults.includes(fault), `--fault ${fault}`);
      for (const k of ENGINE_OPTIONS) expectChoice(row, ASK[k], row.options.includes(k), k);
    });
  }

  it('auto takes the first row of the role and type that serves the options', (ctx) => {
    if (!epollHere) ctx.skip();
    expect(chooseEngine(unix, {})).toBe('epoll');
    expect(chooseEngine(unix, { fault: 'reset' })).toBe('net');
    expect(chooseEngine(unix, { upstream: '/nonexistent-dir/up.sock', quiet: true, fault: 'reset' })).toBe('epoll');
    expect(chooseEngine(unix, { socketType: 'dgram' })).toBe('message');
  });

  it('the refusals say why, in the words of the table', () => {
    const seq = { upstream: '/nonexistent-dir/up.sock', socketType: 'seqpacket' as const };
    expect(() => chooseEngine(unix, { ...seq, fault: 'reset' })).toThrow(/--fault reset is not for a seqpacket tap .*takes: silent, no-newline, slow, never-close, close-without-reply/);
    expect(() => chooseEngine(unix, { socketType: 'dgram', workers: 2 })).toThrow(/--workers is not for a dgram server/);
    expect(() => chooseEngine(unix, { socketType: 'dgram', engine: 'net' })).toThrow(/one engine \(message\)/);
    if (epollHere) expect(() => chooseEngine(unix, { engine: 'epoll', delay: 5 })).toThrow(/--engine epoll: --delay needs the net engine/);
  });

  it('--type seqpacket reaches createServe: the message engine serves it', () => {
    const s = createServe(unix, { socketType: 'seqpacket' });
    expect(s).toMatchObject({ engine: 'message', socketType: 'seqpacket' });
    expect(createServe(unix, { socketType: 'dgram', workers: 'auto' })).toMatchObject({ engine: 'message', socketType: 'dgram' });
  });
});

describe('serve refuses what its socket type\'s rows lack, before anything is bound (exit 2)', () => {
  for (const [args, re] of [
    [['--type', 'seqpacket', '--fault', 'reset'], /--fault reset is not for a seqpacket server .*takes none/],
    [['--type', 'dgram', '--workers', '2'], /--workers is not for a dgram server/],
    [['--type', 'seqpacket', '--read', 'line'], /--read is not for a seqpacket server/],
    [['--type', 'dgram', '--engine', 'epoll'], /--engine epoll: a dgram server has one engine \(message\)/],
  ] as [string[], RegExp][]) {
    it(`serve ${args.join(' ')}`, async () => {
      const sock = join(tmpDir(), 's.sock');
      const r = await runCli(['serve', ...args, sock]);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(re);
    });
  }
});
