#!/usr/bin/env node
// How often `udsctl bench --compare` cries wolf, and whether it sees a real slowdown (issue 23).
//
//   node perf/bench-compare.mjs [--pairs 20] [--duration 5s] [--delay 5ms] [--slow-delay 6ms] [--slow-pairs 3] [--connections 4] [--json]
//
// Same server: `udsctl serve --keep-alive --delay D` on a temporary socket; each pair is two
// `bench -m persistent --json` runs of it, compared with `bench --input B --compare A`. Any
// significant verdict there is a false alarm (per metric and per pair). Slowed: the base run on
// the D server, the other on a second server with the slower delay (6ms against 5ms: 20% more
// per request); the verdict should be "worse", with its interval. Prints a table; --json the data.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const UDSCTL = join(ROOT, 'bin', 'udsctl.cjs');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const pairs = Number(opt('pairs', '20'));
const slowPairs = Number(opt('slow-pairs', '3'));
const duration = opt('duration', '5s');
const delay = opt('delay', '5ms');
const slowDelay = opt('slow-delay', '6ms');
const connections = opt('connections', '4');
const asJson = args.includes('--json');

const dir = mkdtempSync(join(os.tmpdir(), 'udsctl-cmp-'));
const servers = [];

async function startServer(name, d) {
  const sock = join(dir, `${name}.sock`);
  const extra = d === '0' || d === '0ms' ? [] : ['--delay', d];
  const child = spawn(process.execPath, [UDSCTL, 'serve', '--keep-alive', '-q', ...extra, sock], { stdio: 'ignore' });
  servers.push(child);
  const until = Date.now() + 15_000;
  while (!existsSync(sock)) {
    if (Date.now() > until) throw new Error(`serve ${sock} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return sock;
}

function bench(sock) {
  const out = execFileSync(process.execPath, [UDSCTL, 'bench', '-m', 'persistent', '-c', connections, '-d', duration, '--workers', '1', '--json', sock], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return out;
}

function compare(a, b) {
  const fa = join(dir, 'a.json');
  const fb = join(dir, 'b.json');
  writeFileSync(fa, a);
  writeFileSync(fb, b);
  let out;
  try {
    out = execFileSync(process.execPath, [UDSCTL, 'bench', '--input', fb, '--compare', fa, '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  } catch (err) {
    out = err.stdout;
  }
  return JSON.parse(out).comparison;
}

const pct = (f) => (f === null ? '-' : `${f >= 0 ? '+' : ''}${(f * 100).toFixed(1)}%`);

try {
  const base = await startServer('base', delay);
  const slow = await startServer('slow', slowDelay);
  const same = [];
  for (let k = 0; k < pairs; k++) {
    // Alternate which run is "base", so a drift of the machine's load shows both ways.
    const a = bench(base);
    const b = bench(base);
    const cmp = compare(a, b);
    same.push(cmp.metrics);
    const line = cmp.metrics.map((m) => `${m.metric} ${pct(m.change)} ${m.verdict}`).join(', ');
    process.stderr.write(`same ${k + 1}/${pairs}: ${line}\n`);
  }
  const slowed = [];
  for (let k = 0; k < slowPairs; k++) {
    const a = bench(base);
    const b = bench(slow);
    const cmp = compare(a, b);
    slowed.push(cmp.metrics);
    process.stderr.write(`slowed ${k + 1}/${slowPairs}: ${cmp.metrics.map((m) => `${m.metric} ${pct(m.change)} [${m.ci ? m.ci.map(pct).join(', ') : ''}] ${m.verdict}`).join('; ')}\n`);
  }
  const metrics = same[0]?.map((m) => m.metric) ?? [];
  const alarms = Object.fromEntries(metrics.map((name, i) => [name, same.filter((p) => p[i].significant).length]));
  const anyAlarm = same.filter((p) => p.some((m) => m.significant)).length;
  const detected = Object.fromEntries(metrics.map((name, i) => [name, slowed.filter((p) => p[i].verdict === 'worse').length]));
  if (asJson) {
    process.stdout.write(JSON.stringify({ pairs, slowPairs, duration, delay, slowDelay, connections, alarms, anyAlarm, detected, same, slowed }) + '\n');
  } else {
    console.log(`bench --compare, ${pairs} pairs of ${duration} runs of one server (serve --keep-alive --delay ${delay}, -c ${connections}):`);
    for (const m of metrics) console.log(`  ${m.padEnd(6)} false alarms ${alarms[m]} of ${pairs}`);
    console.log(`  any metric: ${anyAlarm} of ${pairs} pairs`);
    console.log(`slowed (--delay ${delay} -> ${slowDelay}), ${slowPairs} pairs: said "worse":`);
    for (const m of metrics) console.log(`  ${m.padEnd(6)} ${detected[m]} of ${slowPairs}`);
  }
} finally {
  for (const s of servers) s.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
