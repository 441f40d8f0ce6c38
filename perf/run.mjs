// `npm run perf`: the reproducible benchmark. Builds the native peers, then
// measures, with medians of several interleaved runs in one go:
//
//   bench-persistent  udsctl bench vs the C client, both driving the C epoll
//                     server in persistent mode            target >= 0.9x req/s
//   bench-oneshot     the same in oneshot mode             target >= 0.5x req/s
//                     and in both: udsctl's p50 / the C client's p50 <= 1.5x
//   bench-scale       10 000 concurrent persistent connections: no error; peak memory
//   serve-oneshot     udsctl serve vs the Go server, both under the C client
//   serve-persistent  udsctl serve --keep-alive vs the C epoll server, under the C client
//
//   node perf/run.mjs [--runs 5] [--duration 3s] [--connections 64] [--threads 1] [--only a,b] [--json]
//
// --threads: the C client's threads and udsctl bench's --workers in the bench
// sections (the same for both; 1 is udsctl's default on two cores).
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
import { buildPeers, runCClient, startPeerServer } from './build.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const UDSCTL = join(ROOT, 'bin', 'udsctl.js');

// ---------------------------------------------------------------- options

function parseArgs(argv) {
  const o = { runs: 5, duration: '3s', connections: 64, threads: 1, only: null, json: false, scale: 10_000 };
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
    else if (a === '--scale') o.scale = Number(v());
    else if (a === '--only') o.only = v().split(',');
    else if (a === '--json') o.json = true;
    else if (a === '--help' || a === '-h') usage(null);
    else usage(`unknown option ${a}`);
  }
  if (!(o.runs >= 1 && Number.isInteger(o.runs))) usage('--runs must be a whole number >= 1');
  if (!/^\d+(\.\d+)?(s|ms)$/.test(o.duration)) usage('--duration must be like 3s or 500ms');
  if (!(o.connections >= 1)) usage('--connections must be >= 1');
  if (!(o.threads >= 1 && Number.isInteger(o.threads))) usage('--threads must be a whole number >= 1');
  return o;
}

function usage(msg) {
  if (msg) process.stderr.write(`perf: ${msg}\n`);
  process.stderr.write(
    'usage: node perf/run.mjs [--runs N] [--duration 3s] [--connections C] [--threads T] [--scale N] [--only ' +
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

/** Start `udsctl serve` as a peer server (bounded start, stopped by stop()). */
function startUdsctlServe(args, sock) {
  return startPeerServer(process.execPath, [UDSCTL, 'serve', '-q', ...args, sock], sock);
}

// One measurement = { rps, p50, errors, extra }.
const fromC = (c) => ({ rps: c.rps, p50: c.p50_us, errors: c.errors });
const fromU = (u) => ({
  rps: u.throughput.requestsPerSec,
  p50: u.latency?.p50Us ?? NaN,
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
  const s = { rps: med('subject', 'rps'), p50: med('subject', 'p50'), errors: rows.subject.reduce((a, m) => a + m.errors, 0) };
  const r = { rps: med('reference', 'rps'), p50: med('reference', 'p50'), errors: rows.reference.reduce((a, m) => a + m.errors, 0) };
  const lines = [
    { metric: 'req/s', subject: s.rps, reference: r.rps, ratio: s.rps / r.rps, target: targets.rps, ok: targets.rps ? s.rps / r.rps >= targets.rps.min : null },
  ];
  if (targets.p50 !== undefined) {
    lines.push({ metric: 'p50 us', subject: s.p50, reference: r.p50, ratio: s.p50 / r.p50, target: targets.p50, ok: targets.p50 ? s.p50 / r.p50 <= targets.p50.max : null });
  }
  return { id, title, subjectName: subject.name, referenceName: reference.name, runs: o.runs, errors: { subject: s.errors, reference: r.errors }, lines, raw: rows };
}

// ---------------------------------------------------------------- sections

const SECTIONS = [
  {
    id: 'bench-persistent',
    async run(o, peers) {
      const c = o.connections;
      return headToHead(o, {
        id: this.id,
        title: `udsctl bench vs C client: C epoll server, persistent, ${c} connections, ${o.threads} thread(s) each`,
        serverFor: (_side, sock) => startPeerServer(peers.cServer, ['--path', sock, '--mode', 'persistent', '--backlog', '4096'], sock),
        subject: {
          name: 'udsctl bench',
          measure: async (sock) => fromU(await udsctlBench(['-m', 'persistent', '-c', String(c), '--workers', String(o.threads), '-d', o.duration, sock], ms(o.duration))),
        },
        reference: {
          name: 'C client',
          measure: async (sock) => fromC(await runCClient(['--path', sock, '--mode', 'persistent', '--connections', String(c), '--threads', String(o.threads), '--duration', o.duration])),
        },
        targets: { rps: { min: 0.9 }, p50: { max: 1.5 } },
      });
    },
  },
  {
    id: 'bench-oneshot',
    async run(o, peers) {
      const c = o.connections;
      return headToHead(o, {
        id: this.id,
        title: `udsctl bench vs C client: C epoll server, oneshot, ${c} in flight, ${o.threads} thread(s) each`,
        serverFor: (_side, sock) => startPeerServer(peers.cServer, ['--path', sock, '--mode', 'oneshot', '--backlog', '4096'], sock),
        subject: {
          name: 'udsctl bench',
          measure: async (sock) => fromU(await udsctlBench(['-m', 'oneshot', '-c', String(c), '--workers', String(o.threads), '-d', o.duration, sock], ms(o.duration))),
        },
        reference: {
          name: 'C client',
          measure: async (sock) => fromC(await runCClient(['--path', sock, '--mode', 'oneshot', '--connections', String(c), '--threads', String(o.threads), '--duration', o.duration])),
        },
        targets: { rps: { min: 0.5 }, p50: { max: 1.5 } },
      });
    },
  },
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
      const c = o.connections;
      const client = (sock) => runCClient(['--path', sock, '--mode', 'oneshot', '--connections', String(c), '--threads', '1', '--duration', o.duration]);
      return headToHead(o, {
        id: this.id,
        title: `udsctl serve vs Go server: oneshot, C client, ${c} in flight`,
        serverFor: (side, sock) => side.start(sock),
        subject: { name: 'udsctl serve', start: (sock) => startUdsctlServe(['--backlog', '4096'], sock), measure: async (sock) => fromC(await client(sock)) },
        reference: { name: 'Go server', start: (sock) => startPeerServer(peers.goServer, ['-path', sock], sock), measure: async (sock) => fromC(await client(sock)) },
        targets: { rps: null },
      });
    },
  },
  {
    id: 'serve-persistent',
    async run(o, peers) {
      const c = o.connections;
      const client = (sock) => runCClient(['--path', sock, '--mode', 'persistent', '--connections', String(c), '--threads', '1', '--duration', o.duration]);
      return headToHead(o, {
        id: this.id,
        title: `udsctl serve --keep-alive vs C epoll server: persistent, C client, ${c} connections`,
        serverFor: (side, sock) => side.start(sock),
        subject: { name: 'udsctl serve -k', start: (sock) => startUdsctlServe(['--keep-alive', '--backlog', '4096'], sock), measure: async (sock) => fromC(await client(sock)) },
        reference: {
          name: 'C server',
          start: (sock) => startPeerServer(peers.cServer, ['--path', sock, '--mode', 'persistent', '--backlog', '4096'], sock),
          measure: async (sock) => fromC(await client(sock)),
        },
        targets: { rps: null },
      });
    },
  },
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
  !Number.isFinite(v) ? '-' : metric === 'req/s' ? Math.round(v).toLocaleString('en-US') : metric === 'p50 us' ? `${v}` : String(v);

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
