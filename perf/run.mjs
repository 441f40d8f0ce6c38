// `npm run perf`: the reproducible benchmark. Builds the native peers, then
// measures, with medians of several interleaved runs in one go:
//
//   bench-persistent  udsctl bench vs the C client, both driving the C epoll
//                     server in persistent mode            target >= 0.9x req/s
//   bench-oneshot     the same in oneshot mode             target >= 0.5x req/s
//                     and in both: udsctl's p50 / the C client's p50 <= 1.5x
//   bench-scale       10 000 concurrent persistent connections: no error; peak memory
//   serve-oneshot     udsctl serve vs the Go server (a goroutine per connection),
//                     both under the C client                target >= 1x conn/s
//   serve-persistent  udsctl serve --keep-alive vs the C epoll server   >= 0.8x req/s
//   serve-log-oneshot udsctl serve logging each connection (human lines, to a
//                     file) vs the same with --quiet          >= 0.9x (costs < 10%)
//   serve-log-json    the same with --json log lines           >= 0.9x
//   serve-log-persistent the same for --keep-alive             >= 0.9x
//   tap-oneshot       udsctl bench through the tap (serve -q --upstream) vs
//                     the same bench direct, on the Go server, one-shot
//                     connections                            target >= 0.7x req/s
//                     (the tap costs <= 30% of direct throughput)
//   tap-vs-haproxy    the same tap vs haproxy (TCP mode, 1 thread) in front of
//   tap-vs-nginx      the Go server; and vs nginx's stream proxy (1 worker):
//                     what a relay costs here (perf/lib/relays.mjs)  >= 1x req/s
//   bench-http        udsctl bench --http vs autocannon -S on nginx, keep-alive  >= 1.5x req/s, lower p99
//   bench-resp        udsctl bench --resp PING vs redis-benchmark ping_inline     >= 1.2x req/s
//                     (perf/protocols.mjs)
//   startup           cold start of `udsctl send` vs a 3-line net.connect
//                     client (hyperfine when installed)         <= 1.15x
//   bench-fastcgi     udsctl bench --fastcgi /ping on php-fpm vs cgi-fcgi in a
//                     loop (perf/lib/fastcgi.mjs): a floor, no target
//
//   node perf/run.mjs [--runs 5] [--duration 3s] [--connections 64] [--threads 1]
//                     [--serve-threads 4] [--serve-warmup 1s] [--startup-runs 60]
//                     [--only a,b] [--json]
//
// --threads: the C client's threads and udsctl bench's --workers in the bench
// sections (the same for both; 1 is udsctl's default on two cores).
// --serve-threads: the C client's threads in the serve sections (issue 5: 4).
// --serve-warmup: in the serve sections, unmeasured load on each freshly
// started server before its measured run (for every server alike), so that a
// start-up cost (V8 compiling udsctl's code while the load begins) is not
// counted as a cost of every connection.
//
// Sections are plain objects in SECTIONS below: a new comparison is one more
// entry. Every child is bounded (the peers die with this process; runs have
// timeouts). Output: the table on stdout (or one JSON document with --json);
// progress on stderr.

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from 'node:fs/promises';
import { buildPeers, runCClient, startPeerServer } from './build.mjs';
import { STARTUP_TARGET, coldStart } from './startup.mjs';
import { fastcgiSection } from './lib/fastcgi.mjs';
import { protocolSections } from './protocols.mjs';
import { relaySections } from './lib/relays.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const UDSCTL = join(ROOT, 'bin', 'udsctl.cjs');

// ---------------------------------------------------------------- options

function parseArgs(argv) {
  const o = { runs: 5, duration: '3s', connections: 64, threads: 1, serveThreads: 4, serveWarmup: '1s', startupRuns: 60, only: null, json: false, scale: 10_000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--runs') o.runs = Number(v());
    else if (a === '--duration') o.duration = v();
    else if (a === '--connections') o.connections = Number(v());
    else if (a === '--threads') o.threads = Number(v());
    else if (a === '--serve-threads') o.serveThreads = Number(v());
    else if (a === '--serve-warmup') o.serveWarmup = v();
    else if (a === '--startup-runs') o.startupRuns = Number(v());
    else if (a === '--scale') o.scale = Number(v());
    else if (a === '--only') o.only = v().split(',');
    else if (a === '--json') o.json = true;
    else if (a === '--help' || a === '-h') usage(null);
    else usage(`unknown option ${a}`);
  }
  if (!(o.runs >= 1 && Number.isInteger(o.runs))) usage('--runs must be a whole number >= 1');
  if (!/^\d+(\.\d+)?(s|ms)$/.test(o.duration)) usage('--duration must be like 3s or 500ms');
  if (!/^\d+(\.\d+)?(s|ms)$/.test(o.serveWarmup)) usage('--serve-warmup must be like 1s or 0s');
  if (!(o.connections >= 1)) usage('--connections must be >= 1');
  if (!(o.threads >= 1 && Number.isInteger(o.threads))) usage('--threads must be a whole number >= 1');
  if (!(o.serveThreads >= 1 && Number.isInteger(o.serveThreads))) usage('--serve-threads must be a whole number >= 1');
  if (!(o.startupRuns >= 3 && Number.isInteger(o.startupRuns))) usage('--startup-runs must be a whole number >= 3');
  return o;
}

function usage(msg) {
  if (msg) process.stderr.write(`perf: ${msg}\n`);
  process.stderr.write(
    'usage: node perf/run.mjs [--runs N] [--duration 3s] [--connections C] [--threads T] [--serve-threads T] [--serve-warmup 1s] [--startup-runs N] [--scale N] [--only ' +
      SECTIONS.map((s) => s.id).join(',') +
      '] [--json]\n',
  );
  process.exit(msg ? 2 : 0);
}

const log = (m) => process.stderr.write(`perf: ${m}\n`);
const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// ---------------------------------------------------------------- runners

/** Run a child to completion, bounded; resolves { code, signal, stdout, stderr }. */
function runChild(cmd, args, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const onExit = () => child.kill('SIGKILL');
    process.once('exit', onExit);
    child.once('error', (e) => {
      clearTimeout(timer);
      process.removeListener('exit', onExit);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      process.removeListener('exit', onExit);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const ms = (d) => (d.endsWith('ms') ? Number(d.slice(0, -2)) : Number(d.slice(0, -1)) * 1000);

/** `udsctl bench --json ...`; resolves the result document. */
async function udsctlBench(args, durationMs) {
  const r = await runChild(process.execPath, [UDSCTL, 'bench', '--json', ...args], durationMs + 60_000);
  let j;
  try {
    j = JSON.parse(r.stdout);
  } catch {
    throw new Error(`udsctl bench ${args.join(' ')}: exit ${r.code ?? r.signal}, no JSON\n${r.stderr}`);
  }
  return j;
}

/**
 * Start `udsctl serve` as a peer server (bounded start, stopped by stop()):
 * quiet, or with logTo, logging every connection to that file, as a server
 * whose stderr goes to a log file does; stop() then says how many lines came.
 */
async function startUdsctlServe(args, sock, logTo) {
  if (!logTo) return startPeerServer(process.execPath, [UDSCTL, 'serve', '-q', ...args, sock], sock);
  const file = await open(logTo, 'w');
  let server;
  try {
    server = await startPeerServer(process.execPath, [UDSCTL, 'serve', ...args, sock], sock, { stderrFd: file.fd });
  } finally {
    await file.close(); // the child has its own descriptor
  }
  return {
    ...server,
    async stop() {
      const r = await server.stop();
      const text = await readFile(logTo, 'utf8');
      const lines = text.match(/ #\d+ in=|"event":"connection"/g)?.length ?? 0;
      await rm(logTo, { force: true });
      if (lines === 0) throw new Error(`udsctl serve ${args.join(' ')}: no connection was logged in ${logTo}: was logging on?`);
      log(`  (${lines.toLocaleString('en-US')} log lines, ${(text.length / 1024 / 1024).toFixed(1)} MiB)`);
      return r;
    },
  };
}

/**
 * The serve sections' measurement: the C client (--serve-threads threads) on a
 * freshly started server, after --serve-warmup of the same load unmeasured.
 */
function serveMeasure(o, mode) {
  return async (sock) => {
    const args = ['--path', sock, '--mode', mode, '--connections', String(o.connections), '--threads', String(o.serveThreads)];
    if (ms(o.serveWarmup) > 0) await runCClient([...args, '--duration', o.serveWarmup]);
    return fromC(await runCClient([...args, '--duration', o.duration]));
  };
}

// One measurement = { rps, p50, errors, extra }.
const fromC = (c) => ({ rps: c.rps, p50: c.p50_us, errors: c.errors });
const fromU = (u) => ({
  rps: u.throughput.requestsPerSec,
  p50: u.latency?.p50Us ?? NaN,
  p99: u.latency?.p99Us ?? NaN,
  errors: u.requests.errors,
  cpu: Math.max(0, ...u.cpu.workers.map((w) => w.percent)),
  rss: u.memory.peakRssBytes,
});

/**
 * A head-to-head section: `subject` and `reference` are measured alternately
 * (order flipped every run, so drift hits both), `runs` times each.
 */
async function headToHead(o, { id, title, serverFor, subject, reference, targets }) {
  const dir = await mkdtemp(join(os.tmpdir(), 'udsctl-perf-'));
  const rows = { subject: [], reference: [] };
  try {
    for (let run = 0; run < o.runs; run++) {
      const order = run % 2 === 0 ? ['reference', 'subject'] : ['subject', 'reference'];
      for (const which of order) {
        const side = which === 'subject' ? subject : reference;
        const sock = join(dir, `${id}-${which}-${run}.sock`);
        const server = await serverFor(side, sock);
        try {
          const m = await side.measure(sock);
          rows[which].push(m);
          log(`${id} run ${run + 1}/${o.runs} ${side.name}: ${Math.round(m.rps)} req/s, p50 ${m.p50}us, ${m.errors} errors`);
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const med = (which, k) => median(rows[which].map((m) => m[k]));
  const s = { rps: med('subject', 'rps'), p50: med('subject', 'p50'), p99: med('subject', 'p99'), errors: rows.subject.reduce((a, m) => a + m.errors, 0) };
  const r = { rps: med('reference', 'rps'), p50: med('reference', 'p50'), p99: med('reference', 'p99'), errors: rows.reference.reduce((a, m) => a + m.errors, 0) };
  const lines = [
    { metric: 'req/s', subject: s.rps, reference: r.rps, ratio: s.rps / r.rps, target: targets.rps, ok: targets.rps ? s.rps / r.rps >= targets.rps.min : null },
  ];
  if (targets.p50 !== undefined) {
    lines.push({ metric: 'p50 us', subject: s.p50, reference: r.p50, ratio: s.p50 / r.p50, target: targets.p50, ok: targets.p50 ? s.p50 / r.p50 <= targets.p50.max : null });
  }
  if (targets.p99 !== undefined) {
    lines.push({ metric: 'p99 us', subject: s.p99, reference: r.p99, ratio: s.p99 / r.p99, target: targets.p99, ok: targets.p99 ? s.p99 / r.p99 <= targets.p99.max : null });
  }
  return { id, title, subjectName: subject.name, referenceName: reference.name, runs: o.runs, errors: { subject: s.errors, reference: r.errors }, lines, raw: rows };
}

// ---------------------------------------------------------------- sections

const SECTIONS = [
  ...[
    { mode: 'persistent', what: 'connections', min: 0.9 },
    { mode: 'oneshot', what: 'in flight', min: 0.5 },
  ].map(({ mode, what, min }) => ({
    id: `bench-${mode}`,
    async run(o, peers) {
      const c = o.connections;
      return headToHead(o, {
        id: this.id,
        title: `udsctl bench vs C client: C epoll server, ${mode}, ${c} ${what}, ${o.threads} thread(s) each`,
        serverFor: (_side, sock) => startPeerServer(peers.cServer, ['--path', sock, '--mode', mode, '--backlog', '4096'], sock),
        subject: {
          name: 'udsctl bench',
          measure: async (sock) => fromU(await udsctlBench(['-m', mode, '-c', String(c), '--workers', String(o.threads), '-d', o.duration, sock], ms(o.duration))),
        },
        reference: {
          name: 'C client',
          measure: async (sock) => fromC(await runCClient(['--path', sock, '--mode', mode, '--connections', String(c), '--threads', String(o.threads), '--duration', o.duration])),
        },
        targets: { rps: { min }, p50: { max: 1.5 } },
      });
    },
  })),
  {
    id: 'bench-scale',
    async run(o, peers) {
      const n = o.scale;
      const dir = await mkdtemp(join(os.tmpdir(), 'udsctl-perf-'));
      const sock = join(dir, 'scale.sock');
      const server = await startPeerServer(peers.cServer, ['--path', sock, '--mode', 'persistent', '--backlog', '4096'], sock);
      try {
        log(`bench-scale: ${n} persistent connections for ${o.duration}`);
        const u = await udsctlBench(['-m', 'persistent', '-c', String(n), '-d', o.duration, '--connect-timeout', '20s', sock], ms(o.duration) + 20_000);
        return {
          id: this.id,
          title: `udsctl bench: ${n.toLocaleString('en-US')} concurrent persistent connections (C epoll server)`,
          scale: {
            connections: n,
            requests: u.requests.ok,
            rps: u.throughput.requestsPerSec,
            errors: u.requests.errors,
            errorCodes: u.errors.map((e) => `${e.code} ${e.count}`),
            p50: u.latency?.p50Us ?? null,
            p99: u.latency?.p99Us ?? null,
            peakRssBytes: u.memory.peakRssBytes,
            ok: u.requests.errors === 0 && u.requests.ok > 0,
          },
        };
      } finally {
        await server.stop();
        await rm(dir, { recursive: true, force: true });
      }
    },
  },
  {
    // udsctl serve's speed is issue 5's; these sections measure it the same way.
    id: 'serve-oneshot',
    async run(o, peers) {
      if (!peers.goServer) return { id: this.id, skipped: 'no Go toolchain' };
      const measure = serveMeasure(o, 'oneshot');
      return headToHead(o, {
        id: this.id,
        title: `udsctl serve vs Go server: oneshot, C client with ${o.serveThreads} threads, ${o.connections} in flight`,
        serverFor: (side, sock) => side.start(sock),
        subject: { name: 'udsctl serve', start: (sock) => startUdsctlServe(['--backlog', '4096'], sock), measure },
        reference: { name: 'Go server', start: (sock) => startPeerServer(peers.goServer, ['-path', sock], sock), measure },
        targets: { rps: { min: 1 } },
      });
    },
  },
  {
    id: 'serve-persistent',
    async run(o, peers) {
      const measure = serveMeasure(o, 'persistent');
      return headToHead(o, {
        id: this.id,
        title: `udsctl serve --keep-alive vs C epoll server: persistent, C client with ${o.serveThreads} threads, ${o.connections} connections`,
        serverFor: (side, sock) => side.start(sock),
        subject: { name: 'udsctl serve -k', start: (sock) => startUdsctlServe(['--keep-alive', '--backlog', '4096'], sock), measure },
        reference: {
          name: 'C server',
          start: (sock) => startPeerServer(peers.cServer, ['--path', sock, '--mode', 'persistent', '--backlog', '4096'], sock),
          measure,
        },
        targets: { rps: { min: 0.8 } },
      });
    },
  },
  ...[
    { id: 'serve-log-oneshot', args: [], mode: 'oneshot', what: 'human log lines' },
    { id: 'serve-log-json', args: ['--json'], mode: 'oneshot', what: 'JSON log lines' },
    { id: 'serve-log-persistent', args: ['--keep-alive'], mode: 'persistent', what: 'human log lines, --keep-alive' },
  ].map(({ id, args, mode, what }) => ({
    id,
    async run(o) {
      const measure = serveMeasure(o, mode);
      return headToHead(o, {
        id,
        title: `udsctl serve logging each connection (${what}, to a file) vs --quiet: ${mode}, C client with ${o.serveThreads} threads, ${o.connections} ${mode === 'oneshot' ? 'in flight' : 'connections'}`,
        serverFor: (side, sock) => side.start(sock),
        subject: { name: 'logging', start: (sock) => startUdsctlServe([...args, '--backlog', '4096'], sock, `${sock}.log`), measure },
        reference: { name: '--quiet', start: (sock) => startUdsctlServe([...args, '--backlog', '4096'], sock), measure },
        targets: { rps: { min: 0.9 } },
      });
    },
  })),
  ...protocolSections({ headToHead, udsctlBench, fromU, runChild, ms, log }),
  {
    // Issue 12: the tap's cost. Both sides run the same bench on the same Go server;
    // the subject's connections go through `udsctl serve -q --upstream`.
    id: 'tap-oneshot',
    async run(o, peers) {
      if (!peers.goServer) return { id: this.id, skipped: 'no Go toolchain' };
      const c = o.connections;
      const measure = async (sock) =>
        fromU(await udsctlBench(['-m', 'oneshot', '-c', String(c), '--workers', String(o.threads), '--warmup', o.serveWarmup, '-d', o.duration, sock], ms(o.duration) + ms(o.serveWarmup)));
      return headToHead(o, {
        id: this.id,
        title: `udsctl bench through the tap (serve -q --upstream${process.env.UDSCTL_PERF_TAP_ARGS ? ` ${process.env.UDSCTL_PERF_TAP_ARGS}` : ''}: the epoll relay unless told, its default --workers) vs direct: Go server, oneshot, ${c} in flight, ${o.threads} bench thread(s)`,
        serverFor: (side, sock) => side.start(sock),
        subject: {
          name: 'through the tap',
          async start(sock) {
            const up = `${sock}.up`;
            const go = await startPeerServer(peers.goServer, ['-path', up], up);
            try {
              // UDSCTL_PERF_TAP_ARGS: extra serve arguments, e.g. `--engine net` for the net tap, `--workers 1`.
              const extra = (process.env.UDSCTL_PERF_TAP_ARGS ?? '').split(' ').filter(Boolean);
              const tap = await startPeerServer(process.execPath, [UDSCTL, 'serve', '-q', '--backlog', '4096', ...extra, '--upstream', up, sock], sock);
              return {
                async stop() {
                  await tap.stop();
                  return go.stop();
                },
              };
            } catch (err) {
              await go.stop();
              throw err;
            }
          },
          measure,
        },
        reference: { name: 'direct', start: (sock) => startPeerServer(peers.goServer, ['-path', sock], sock), measure },
        targets: { rps: { min: 0.7 } },
      });
    },
  },
  ...relaySections({ headToHead, udsctlBench, fromU, ms, udsctl: UDSCTL }),
  {
    id: 'startup',
    async run(o) {
      const r = await coldStart({ runs: o.startupRuns, log });
      const line = (metric, s, m, target) => ({ metric, subject: s, reference: m, ratio: s / m, target, ok: target ? s / m <= target.max : null });
      // The wall ratio is the median of the pairs' ratios (startup.mjs), not the ratio of the medians.
      const lines = [{ ...line('wall ms', r.udsctl.wallMs, r.minimal.wallMs, { max: STARTUP_TARGET }), ratio: r.pairRatio, ok: r.pairRatio <= STARTUP_TARGET }];
      if (r.udsctl.userMs) lines.push(line('user CPU ms', r.udsctl.userMs, r.minimal.userMs, null));
      return {
        id: this.id,
        title: `cold start (process start, connect, reply, exit), medians of ${r.runs} runs (${r.tool}): udsctl send vs a 3-line net.connect client`,
        subjectName: 'udsctl send',
        referenceName: 'net.connect',
        runs: r.runs,
        errors: { subject: 0, reference: 0 },
        lines,
      };
    },
  },
  fastcgiSection({ headToHead, udsctlBench, fromU, ms }),
];

// ---------------------------------------------------------------- report

async function machine() {
  const cpus = os.cpus();
  let distro = '';
  try {
    distro = /^PRETTY_NAME="?([^"\n]*)/m.exec(await readFile('/etc/os-release', 'utf8'))?.[1] ?? '';
  } catch {
    // not Linux
  }
  return {
    cores: os.availableParallelism(),
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    os: `${distro || os.type()} (${os.type()} ${os.release()})`,
    node: process.version,
    load: os.loadavg().map((l) => l.toFixed(2)).join(' '),
  };
}

const fmt = (v, metric) =>
  !Number.isFinite(v) ? '-' : metric === 'req/s' ? Math.round(v).toLocaleString('en-US') : metric.endsWith(' ms') ? v.toFixed(1) : String(v);

function table(results, m, o) {
  const out = [];
  out.push(`udsctl perf: medians of ${o.runs} runs of ${o.duration} each, interleaved; bench sections: ${o.threads} client thread(s) each`);
  out.push(`machine: ${m.cores} cores, ${m.cpu}, ${m.os}, Node ${m.node} (load average at start ${m.load})`);
  out.push('');
  const head = ['comparison', 'metric', 'udsctl', 'reference', 'ratio', 'target', ''];
  const rows = [];
  for (const r of results) {
    if (r.skipped) {
      rows.push([r.id, `skipped: ${r.skipped}`, '', '', '', '', '']);
      continue;
    }
    if (r.scale) {
      const s = r.scale;
      rows.push([
        `${r.id} (${s.connections} conns)`,
        'errors / peak RSS',
        `${s.errors} / ${(s.peakRssBytes / 1024 / 1024).toFixed(0)} MiB`,
        `${Math.round(s.rps).toLocaleString('en-US')} req/s`,
        '',
        '0 errors',
        s.ok ? 'ok' : `FAIL ${s.errorCodes.join(', ')}`,
      ]);
      continue;
    }
    r.lines.forEach((l, i) => {
      const target = l.target ? (l.target.min !== undefined ? `>= ${l.target.min}x` : `<= ${l.target.max}x`) : '';
      rows.push([
        i === 0 ? `${r.id} (${r.subjectName} / ${r.referenceName})` : '',
        l.metric,
        fmt(l.subject, l.metric),
        fmt(l.reference, l.metric),
        Number.isFinite(l.ratio) ? `${l.ratio.toFixed(2)}x` : '-',
        target,
        l.ok === null ? '' : l.ok ? 'ok' : 'MISSED',
      ]);
    });
    if (r.errors.subject || r.errors.reference) rows.push(['', 'errors', String(r.errors.subject), String(r.errors.reference), '', '', '']);
  }
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)));
  const line = (cells) => cells.map((c, i) => (i >= 2 && i <= 5 ? String(c).padStart(w[i]) : String(c).padEnd(w[i]))).join('  ').trimEnd();
  out.push(line(head));
  out.push(line(w.map((n) => '-'.repeat(n))));
  for (const row of rows) out.push(line(row));
  out.push('');
  for (const r of results) if (r.title) out.push(`${r.id}: ${r.title}`);
  return out.join('\n') + '\n';
}

// ---------------------------------------------------------------- main

const o = parseArgs(process.argv.slice(2));
const chosen = o.only ? SECTIONS.filter((s) => o.only.includes(s.id)) : SECTIONS;
if (o.only && chosen.length !== o.only.length) usage(`--only: unknown section in ${o.only.join(',')}`);
const m = await machine();
const peers = await buildPeers({ log });
const results = [];
for (const s of chosen) {
  log(`section ${s.id}`);
  results.push(await s.run(o, peers));
}
if (o.json) {
  for (const r of results) delete r.raw;
  process.stdout.write(JSON.stringify({ machine: m, runs: o.runs, duration: o.duration, connections: o.connections, results }, null, 2) + '\n');
} else {
  process.stdout.write(table(results, m, o));
}
const missed = results.some((r) => r.lines?.some((l) => l.ok === false) || r.scale?.ok === false);
process.exitCode = missed ? 1 : 0;
