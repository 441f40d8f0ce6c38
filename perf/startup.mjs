// Cold start of `udsctl send` (the whole process: start, connect, send, read
// the reply, exit) against the smallest possible Node client doing the same
// exchange, a three-line net.connect script. Issue 5's target: <= 1.15x.
// Uses hyperfine when installed (Debian: apt-get install hyperfine), else an
// interleaved loop of spawnSync. A section of `npm run perf`; alone:
//
//   node perf/startup.mjs [--runs 60] [--json]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPeerServer } from './build.mjs';

const BIN = fileURLToPath(new URL('../bin/udsctl.cjs', import.meta.url));

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
    // Both must really do the exchange, or the comparison means nothing.
    for (const args of [[minimal], [BIN, 'send', sock, 'hi']]) {
      const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 10_000 });
      if (r.status !== 0 || !/^OK\+ at /.test(r.stdout)) throw new Error(`node ${args.join(' ')}: exit ${r.status}, ${JSON.stringify(r.stdout)}`);
    }
    const commands = [`${process.execPath} ${minimal}`, `${process.execPath} ${BIN} send ${sock} hi`];
    if (spawnSync('hyperfine', ['--version']).status === 0) {
      log(`startup: hyperfine, ${runs} runs each`);
      const out = join(dir, 'hf.json');
      const r = spawnSync('hyperfine', ['-N', '--warmup', '5', '-r', String(runs), '--export-json', out, ...commands], {
        stdio: ['ignore', 'ignore', 'ignore'],
        timeout: 600_000,
      });
      if (r.status !== 0) throw new Error(`hyperfine failed (exit ${r.status ?? r.signal})`);
      const [m, u] = JSON.parse(readFileSync(out, 'utf8')).results;
      const of = (x) => ({ wallMs: x.median * 1000, userMs: x.user * 1000 });
      return { tool: 'hyperfine', runs, minimal: of(m), udsctl: of(u) };
    }
    log(`startup: no hyperfine, an interleaved loop of ${runs} runs each`);
    const times = [[], []];
    // /dev/null write-only, as a shell's >/dev/null.
    const devnull = openSync('/dev/null', 'w');
    for (let i = 0; i < runs + 5; i++) {
      for (const k of i % 2 ? [1, 0] : [0, 1]) {
        const [cmd, ...rest] = commands[k].split(' ');
        const t0 = process.hrtime.bigint();
        spawnSync(cmd, rest, { stdio: ['ignore', devnull, 'ignore'], timeout: 10_000 });
        if (i >= 5) times[k].push(Number(process.hrtime.bigint() - t0) / 1e6); // the first 5: warm-up
      }
    }
    return { tool: 'loop', runs, minimal: { wallMs: median(times[0]) }, udsctl: { wallMs: median(times[1]) } };
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
    const ratio = r.udsctl.wallMs / r.minimal.wallMs;
    console.log(`cold start, medians of ${r.runs} runs (${r.tool}): udsctl send ${r.udsctl.wallMs.toFixed(1)} ms, 3-line net.connect client ${r.minimal.wallMs.toFixed(1)} ms`);
    console.log(`ratio ${ratio.toFixed(2)}x (target <= 1.15x: ${ratio <= 1.15 ? 'met' : 'missed'})`);
    if (r.udsctl.userMs) console.log(`user CPU ratio ${(r.udsctl.userMs / r.minimal.userMs).toFixed(2)}x`);
  }
}
