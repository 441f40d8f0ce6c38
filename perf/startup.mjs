// Cold start of `udsctl send` (the whole process: start, connect, send, read
// the reply, exit) against the smallest possible Node client doing the same
// exchange, a three-line net.connect script. Issue 18's target: <= 1.08x.
// An interleaved loop of spawnSync, the ratio taken pair by pair. A section of
// `npm run perf`; alone:
//
//   node perf/startup.mjs [--runs 60] [--json]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPeerServer } from './build.mjs';

const BIN = fileURLToPath(new URL('../bin/udsctl.cjs', import.meta.url));
/** Issue 18's target for `udsctl send` against the 3-line client (issue 5's was 1.15x). */
export const STARTUP_TARGET = 1.08;

const median = (a) => {
  const s = a.slice().sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * Measure both commands against one `udsctl serve`; resolves
 * { tool, runs, minimal: { wallMs, userMs? }, udsctl: { wallMs, userMs? } } (medians).
 */
export async function coldStart({ runs = 60, log = () => {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'udsctl-startup-'));
  const sock = join(dir, 's.sock');
  // CommonJS, the form Node starts fastest (an ES module adds the ESM loader's ~10 ms).
  const minimal = join(dir, 'min.cjs');
  writeFileSync(
    minimal,
    `const net = require('node:net');
const c = net.connect(${JSON.stringify(sock)}, () => c.end('hi'));
c.on('data', (d) => process.stdout.write(d));
`,
  );
  const server = await startPeerServer(process.execPath, [BIN, 'serve', '--quiet', sock], sock);
  try {
    // Without NODE_EXTRA_CA_CERTS (set on some machines, this one among them): Node 20 parses that
    // CA bundle at every start, ~50 ms on both sides that neither program controls; kept, it made
    // 1.38x read as 1.15x.
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: '' };
    // Both must really do the exchange, or the comparison means nothing.
    for (const args of [[minimal], [BIN, 'send', sock, 'hi']]) {
      const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 10_000, env });
      if (r.status !== 0 || !/^OK\+ at /.test(r.stdout)) throw new Error(`node ${args.join(' ')}: exit ${r.status}, ${JSON.stringify(r.stdout)}`);
    }
    const commands = [
      [process.execPath, minimal],
      [process.execPath, BIN, 'send', sock, 'hi'],
    ];
    // Interleaved, A B B A ..., and the ratio taken pair by pair: the VM's speed drifts over a minute
    // (hyperfine's block of one command's runs, then the other's, put 1.08x and 1.44x of the same
    // build back to back), and a pair's two runs see the same machine. User CPU: the children's
    // (utime of /proc/self/stat's cutime, in clock ticks), summed over the runs.
    log(`startup: an interleaved loop of ${runs} pairs`);
    const times = [[], []];
    const cpuTicks = [0, 0];
    const childTicks = () => Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[13]);
    const haveProc = (() => {
      try {
        return Number.isFinite(childTicks());
      } catch {
        return false;
      }
    })();
    // /dev/null write-only, as a shell's >/dev/null.
    const devnull = openSync('/dev/null', 'w');
    for (let i = 0; i < runs + 5; i++) {
      for (const k of i % 2 ? [1, 0] : [0, 1]) {
        const [cmd, ...rest] = commands[k];
        const c0 = haveProc ? childTicks() : 0;
        const t0 = process.hrtime.bigint();
        spawnSync(cmd, rest, { stdio: ['ignore', devnull, 'ignore'], timeout: 10_000, env });
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (i < 5) continue; // the first 5 pairs: warm-up
        times[k].push(ms);
        if (haveProc) cpuTicks[k] += childTicks() - c0;
      }
    }
    const tickMs = 1000 / 100; // USER_HZ: 100 on Linux
    const userMs = (k) => (haveProc ? (cpuTicks[k] * tickMs) / runs : undefined);
    return {
      tool: 'interleaved pairs',
      runs,
      pairRatio: median(times[1].map((t, j) => t / times[0][j])),
      minimal: { wallMs: median(times[0]), userMs: userMs(0) },
      udsctl: { wallMs: median(times[1]), userMs: userMs(1) },
    };
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const i = args.indexOf('--runs');
  const r = await coldStart({ runs: i >= 0 ? Number(args[i + 1]) : 60, log: (m) => process.stderr.write(`perf: ${m}\n`) });
  if (args.includes('--json')) console.log(JSON.stringify(r));
  else {
    const ratio = r.pairRatio;
    console.log(`cold start, medians of ${r.runs} runs (${r.tool}): udsctl send ${r.udsctl.wallMs.toFixed(1)} ms, 3-line net.connect client ${r.minimal.wallMs.toFixed(1)} ms`);
    console.log(`ratio ${ratio.toFixed(2)}x, the median of the pairs' ratios (target <= ${STARTUP_TARGET}x: ${ratio <= STARTUP_TARGET ? 'met' : 'missed'})`);
    if (r.udsctl.userMs) console.log(`user CPU ratio ${(r.udsctl.userMs / r.minimal.userMs).toFixed(2)}x`);
  }
}
