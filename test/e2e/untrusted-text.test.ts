/**
 * Untrusted text never reaches the terminal raw (issue 10): every class of
 * hostile character (CLASSES) through every human, Nagios and log output, from
 * real peers: a server that replies with them, a client that sends them to
 * serve, a listener whose process name and command line hold them, a symlink
 * whose target holds them. Each output's bytes are scanned (expectTerminalSafe)
 * and must show the class's escapes; --json keeps the exact values.
 */
import { symlinkSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { Chalk } from 'chalk';
import { afterEach, describe, expect, it } from 'vitest';
import { parseTarget } from '../../src/core/socket/target.js';
import { probeAll } from '../../src/core/probe.js';
import { probeRunHuman, probeRunToJson } from '../../src/render/probe.js';
import { type CliResult, killAll, runCli, startCli, waitForStderr } from '../helpers/run-cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';
import {
  CLASSES,
  HOSTILE,
  HOSTILE_ARGV0,
  HOSTILE_COMM,
  expectTerminalSafe,
  startHostileListener,
  startReplyServer,
} from '../helpers/hostile-text.js';

afterEach(() => killAll());

const both = (r: CliResult) => Buffer.concat([r.stdoutBytes, Buffer.from('\n'), r.stderrBytes]);

describe('replies: send -v, probe (human, nagios), bench MISMATCH', () => {
  it.each(CLASSES)('$name', async (c) => {
    const dir = tmpDir();
    const reply = Buffer.concat([Buffer.from('<'), c.bytes, Buffer.from('>\n')]);
    const srv = await startReplyServer(join(dir, 's.sock'), reply);

    // send -v: the reply goes raw to stdout (like nc, on purpose); the timeline on stderr is escaped.
    const send = await runCli(['send', '-v', srv.path, 'hi']);
    expect(send.status, send.stderr).toBe(0);
    expect(send.stdoutBytes.equals(reply)).toBe(true);
    expectTerminalSafe(send.stderrBytes, 'send -v stderr');
    expect(send.stderr).toContain(`"<${c.shown}>\\n"`);

    // probe: the reply's preview in the human report and in Nagios' one line.
    const human = await runCli(['probe', '-u', 'eof', '--expect', 'nope', srv.path]);
    expect(human.status).toBe(2);
    expectTerminalSafe(both(human), 'probe human');
    expect(human.stdout).toContain(`<${c.shown}>`);
    const nagios = await runCli(['probe', '-u', 'eof', '--format', 'nagios', '--expect', 'nope', srv.path]);
    expect(nagios.status).toBe(2);
    expectTerminalSafe(both(nagios), 'probe nagios');
    expect(nagios.stdout.split('\n')).toHaveLength(2); // one line and its newline
    expect(nagios.stdout).toContain(`<${c.shown}>`);
    // bench: the first MISMATCH's message quotes the reply.
    const bench = await runCli(['bench', '-n', '4', '-c', '1', '--workers', '1', '--expect', 'nope', srv.path], { timeoutMs: 30_000 });
    expect(bench.status, bench.stderr).not.toBe(0);
    expectTerminalSafe(both(bench), 'bench');
    expect(bench.stdout).toContain(`MISMATCH`);
    expect(bench.stdout).toContain(`(got "<${c.shown}>\\n")`);
  }, 60_000);

  it('probe --json keeps the exact reply bytes', async () => {
    const dir = tmpDir();
    const srv = await startReplyServer(join(dir, 's.sock'), HOSTILE);
    const json = await runCli(['probe', '--json', '-u', 'eof', srv.path]);
    const ex = JSON.parse(json.stdout).targets[0].exchange;
    expect(Buffer.from(ex.replyBase64, 'base64').equals(HOSTILE)).toBe(true);
  });

  it('bench --engine net and --json: the MISMATCH message is escaped the same way', async () => {
    const dir = tmpDir();
    const srv = await startReplyServer(join(dir, 's.sock'), Buffer.concat([CLASSES[0].bytes, CLASSES[8].bytes, Buffer.from('\n')]));
    const r = await runCli(['bench', '--engine', 'net', '--json', '-n', '5', '-c', '1', '--workers', '1', '--expect', 'nope', srv.path], { timeoutMs: 30_000 });
    expectTerminalSafe(both(r), 'bench --json');
    const msg = JSON.parse(r.stdout).errors.find((e: { code: string }) => e.code === 'MISMATCH').message as string;
    expect(msg).toContain(`(got "${CLASSES[0].shown}${CLASSES[8].shown}\\n")`);
  });
});

describe("serve's log shows what clients sent escaped", () => {
  for (const engine of ['net', 'epoll'] as const) {
    it(`--engine ${engine}: every class, in the request and the echoed reply`, async () => {
      const dir = tmpDir();
      const sock = join(dir, 'e.sock');
      const child = startCli(['serve', '--engine', engine, '--echo', sock]);
      const err: Buffer[] = [];
      child.stderr!.on('data', (b: Buffer) => err.push(b));
      await waitForStderr(child, 'listening on');
      for (const c of CLASSES) {
        await new Promise<void>((resolve, reject) => {
          const s = net.connect(sock, () => s.end(Buffer.concat([Buffer.from('<'), c.bytes, Buffer.from('>')])));
          s.resume();
          s.on('close', () => resolve());
          s.on('error', reject);
        });
      }
      // Wait for the last line (the log of the thread engine is written every 50 ms).
      const last = CLASSES[CLASSES.length - 1].shown;
      const deadline = Date.now() + 10_000;
      while (!Buffer.concat(err).toString().includes(`req="<${last}>"`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      child.kill('SIGTERM');
      await new Promise((r) => child.once('close', r));
      const log = Buffer.concat(err);
      expectTerminalSafe(log, `serve --engine ${engine} log`);
      for (const c of CLASSES) {
        expect(log.toString()).toContain(`req="<${c.shown}>" reply="<${c.shown}>"`);
      }
    });
  }

  it('--json keeps the text (bytes that are not UTF-8 as U+FFFD, as before)', async () => {
    const dir = tmpDir();
    const sock = join(dir, 'e.sock');
    const child = startCli(['serve', '--json', '--engine', 'net', '--echo', sock]);
    await waitForStderr(child, '"listening"');
    const sent = Buffer.concat([CLASSES[0].bytes, CLASSES[4].bytes, CLASSES[8].bytes]);
    const line = waitForStderr(child, '"connection"');
    await new Promise<void>((resolve) => {
      const s = net.connect(sock, () => s.end(sent));
      s.resume();
      s.on('close', () => resolve());
    });
    const text = await line;
    const rec = JSON.parse(text.split('\n').find((l) => l.includes('"connection"'))!);
    expect(rec.request).toBe(sent.toString('utf8'));
  });
});

describe("probe: a listener's process name and command line, a symlink's target, a file name", () => {
  it('the listening process (comm and argv crafted) is escaped in the human report; --json keeps it', async () => {
    const dir = tmpDir();
    const sock = join(dir, 'l.sock');
    await startHostileListener(dir, sock);
    // Through the library, with a lookup budget no loaded machine runs out of (the CLI's is 300 ms):
    // the same renderers the CLI prints with.
    const { status, reports } = await probeAll([parseTarget(sock)], { ownerLookupBudget: 10_000 });
    expect(status).toBe('OK');
    const human = probeRunHuman(status, reports, new Chalk({ level: 0 }), 200);
    expectTerminalSafe(Buffer.from(human), 'probe human (listener)');
    expect(human).toContain(`listening: pid ${reports[0].listener!.owners[0].pid} (\\x1b]52;c;cGF3bmVk\\x07\\u009b31m\\u202eFORGED\\nINJECTED `);
    const p = probeRunToJson(status, reports) as { targets: Array<{ listener: { processes: Array<{ name: string; cmdline: string }> } }> };
    const proc = p.targets[0].listener.processes[0];
    expect(proc.cmdline.startsWith(HOSTILE_ARGV0)).toBe(true);
    expect(proc.name).toBe(HOSTILE_COMM.slice(0, 15).trim());
    // And the CLI end to end (whatever its lookup found, the output is safe).
    const cli = await runCli(['probe', sock]);
    expect(cli.status, cli.stdout).toBe(0);
    expectTerminalSafe(both(cli), 'probe human (listener, CLI)');
  });

  it('a symlink whose target holds ESC, BEL and a newline: human and nagios escaped, --json exact', async () => {
    const dir = tmpDir();
    const target = join(dir, `t\x1b]0;T\x07\nINJECTED\u202e`);
    const link = join(dir, 'link.sock');
    symlinkSync(target, link);
    const human = await runCli(['probe', link]);
    expect(human.status).toBe(2);
    expectTerminalSafe(both(human), 'probe human (symlink)');
    expect(human.stdout).toContain('t\\x1b]0;T\\x07\\nINJECTED\\u202e');
    const nagios = await runCli(['probe', '--format', 'nagios', link]);
    expectTerminalSafe(both(nagios), 'probe nagios (symlink)');
    expect(nagios.stdout).toContain('t\\x1b]0;T\\x07\\nINJECTED\\u202e');
    const json = await runCli(['probe', '--json', link]);
    expect(JSON.parse(json.stdout).targets[0].path.symlinkTo).toBe(target);
  });

  it('a socket file name with control characters (found by a glob, say) is escaped wherever the target is named', async () => {
    const dir = tmpDir();
    const srv = await startReplyServer(join(dir, 'a\x1b[2J\nINJECTED\u009b.sock'), HOSTILE);
    for (const args of [[], ['--format', 'nagios'], ['--expect', 'nope'], ['--format', 'nagios', '--expect', 'nope']]) {
      const r = await runCli(['probe', ...args, srv.path]);
      expectTerminalSafe(both(r), `probe ${args.join(' ')}`);
      expect(r.stdout).toContain('a\\x1b[2J\\nINJECTED\\u009b.sock');
    }
    const v = await runCli(['send', '-v', srv.path, 'x']);
    expectTerminalSafe(v.stderrBytes, 'send -v');
  });
});
