/**
 * probe's human report fits the terminal (issue 13, "Every screen fits"):
 * the width is the terminal's (Io stdout.columns; 80 when not a terminal),
 * prose wraps, a checklist detail is cut with … (the full text stays in
 * --json), and the times stay in one column: tested at 80 and 200 columns
 * with a long process name and wide characters. And --format nagios' size=
 * is the reply's size as the human report gives it.
 */
import { Writable } from 'node:stream';
import { join } from 'node:path';
import stringWidth from 'string-width';
import { Chalk } from 'chalk';
import { afterEach, describe, expect, it } from 'vitest';
import { type ProbeFlags, runProbe } from '../src/commands/probe.js';
import { parseEndRule } from '../src/core/framing/end-rule.js';
import { escapeText } from '../src/core/escape.js';
import { DEFAULT_PROBE_PAYLOAD, PROBE_DEFAULTS, probeAll } from '../src/core/probe.js';
import { parseTarget } from '../src/core/socket/target.js';
import type { Io } from '../src/io.js';
import { probeRunHuman } from '../src/render/probe.js';
import { killAll, runCli } from './helpers/run-cli.js';
import { tmpDir } from './helpers/tmp-dir.js';
import { startHostileListener, startReplyServer } from './helpers/hostile-text.js';

afterEach(() => killAll());

/** An Io whose stdout is a terminal of `columns` columns (or not a terminal), collecting what is written. */
function fakeIo(columns: number | undefined): { io: Io; out: () => string } {
  let acc = '';
  const stdout = Object.assign(
    new Writable({
      write(chunk, _enc, cb) {
        acc += chunk.toString();
        cb();
      },
    }),
    columns === undefined ? { isTTY: false } : { isTTY: true, columns },
  );
  const io = { stdout, stderr: new Writable({ write: (_c, _e, cb) => cb() }), stdin: process.stdin, env: { NO_COLOR: '1' } } as unknown as Io;
  return { io, out: () => acc };
}

const flags: ProbeFlags = {
  send: DEFAULT_PROBE_PAYLOAD,
  until: parseEndRule(PROBE_DEFAULTS.until),
  timeout: PROBE_DEFAULTS.timeout,
  connectTimeout: PROBE_DEFAULTS.connectTimeout,
  closeTimeout: PROBE_DEFAULTS.closeTimeout,
  warn: PROBE_DEFAULTS.warn,
  interval: PROBE_DEFAULTS.interval,
  format: 'human',
};

const TIMED = /\d(us|ms|s)$/;
const checklist = (lines: string[]) => lines.filter((l) => /^ {2}(ok|WARN|FAIL|skip|--) {2}/.test(l));

/** Every line within `width` columns; the timed checklist rows end in the same column. */
function expectFits(text: string, width: number): string[] {
  const lines = text.replace(/\n$/, '').split('\n');
  for (const l of lines) expect(stringWidth(l), `wider than ${width}: ${l}`).toBeLessThanOrEqual(width);
  const timed = checklist(lines).filter((l) => TIMED.test(l));
  expect(timed.length).toBeGreaterThan(2);
  expect(new Set(timed.map((l) => stringWidth(l))).size, `time column not aligned:\n${timed.join('\n')}`).toBe(1);
  return lines;
}

describe('probe human report: fits the terminal', () => {
  it('80 and 200 columns, with a long process name and a reply of wide characters', async () => {
    const dir = tmpDir();
    const sock = join(dir, 'l.sock');
    await startHostileListener(dir, sock); // its command line is ~120 characters, escaped longer
    const { status, reports } = await probeAll([parseTarget(sock)], { ownerLookupBudget: 10_000 });
    const c = new Chalk({ level: 0 });
    const narrow = expectFits(probeRunHuman(status, reports, c, 80), 80);
    const listener = checklist(narrow).find((l) => l.includes('listener'))!;
    expect(listener).toContain('…');
    const wide = expectFits(probeRunHuman(status, reports, c, 200), 200);
    // At 200 the whole (escaped) command line, as probe keeps it, fits: nothing cut.
    expect(checklist(wide).find((l) => l.includes('listener'))).toContain(`${escapeText(reports[0].listener!.owners[0].cmdline)})`);

    const srv = await startReplyServer(join(dir, 'w.sock'), Buffer.from(`${'中文'.repeat(30)}\n`));
    // Through the command, as a user meets it: string-width is loaded only when the report shows such text.
    const { io, out } = fakeIo(80);
    await runProbe([srv.path], flags, io);
    const cjk = expectFits(out(), 80);
    const reply = checklist(cjk).find((l) => l.includes('reply'))!;
    expect(reply).toContain('中文');
    expect(reply).toContain('…');
  });

  it('the command takes the width from stdout.columns, and 80 when stdout is not a terminal', async () => {
    const dir = tmpDir();
    const srv = await startReplyServer(join(dir, 'r.sock'), Buffer.from(`${'x'.repeat(150)}\n`));
    for (const [columns, width] of [[200, 200], [80, 80], [undefined, 80], [120, 120]] as const) {
      const { io, out } = fakeIo(columns);
      expect(await runProbe([srv.path], flags, io)).toBe(0);
      const lines = expectFits(out(), width);
      const reply = checklist(lines).find((l) => l.includes('reply'))!;
      // The reply row (~90 columns) is cut at 80 columns, exactly there; with room, it is whole.
      if (width === 80) {
        expect(stringWidth(reply)).toBe(80);
        expect(reply).toContain('…');
      } else expect(reply).toContain('(until line)');
    }
  });

  it('end to end, stdout a pipe: 80 columns', async () => {
    const dir = tmpDir();
    const srv = await startReplyServer(join(dir, 'r.sock'), Buffer.from(`${'y'.repeat(150)}\n`));
    const r = await runCli(['probe', srv.path]);
    expect(r.status).toBe(0);
    expectFits(r.stdout, 80);
  });
});

describe('--format nagios size=: the reply as framed by the end rule, as the human report says', () => {
  it('a reply line followed by more bytes: size= counts the line only, like the reply row', async () => {
    const dir = tmpDir();
    const srv = await startReplyServer(join(dir, 'n.sock'), Buffer.from('HTTP/1.0 200 OK\r\n' + 'body '.repeat(50) + '\n'));
    // --as line: the line contract (a plain probe would take the status line for HTTP and ask GET /).
    const human = await runCli(['probe', '--as', 'line', srv.path]);
    expect(human.stdout).toMatch(/reply +17 bytes "HTTP\/1\.0 200 OK\\r\\n"/);
    const nagios = await runCli(['probe', '--as', 'line', '--format', 'nagios', srv.path]);
    expect(nagios.stdout).toMatch(/ size=17B;;;0\n$/);
    const json = JSON.parse((await runCli(['probe', '--as', 'line', '--json', srv.path])).stdout).targets[0].exchange;
    expect(json.bytesReceived).toBeGreaterThan(17); // the rest came too; it is not the reply
  });
});
