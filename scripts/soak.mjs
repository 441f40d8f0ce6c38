#!/usr/bin/env node
// Soak: a minute (or --duration) of mixed load against `udsctl serve`, with
// faults injected by misbehaving clients, then a tally. Not part of `npm test`.
//
//   npm run soak                  # 60 s, one-shot server
//   npm run soak -- --duration 5m --keep-alive
//
// Good clients send a numbered request and must get a complete reply; every
// good request ends as a reply or as a classified error. A loss is a good
// request with neither (or a wrong reply): it must be zero, else exit 1.
// Bad clients reset mid-reply, half-close, connect and vanish, or send garbage.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '60s' },
    concurrency: { type: 'string', default: '32' },
    'keep-alive': { type: 'boolean', default: false },
    seed: { type: 'string', default: '42' },
  },
});
const durationMs = /^(\d+)(ms|s|m)?$/.exec(values.duration)
  ? Number(values.duration.match(/^\d+/)[0]) * { ms: 1, s: 1000, m: 60000 }[values.duration.match(/(ms|s|m)$/)?.[1] ?? 'ms']
  : (() => { throw new Error('--duration like 60s or 5m'); })();
const concurrency = Number(values.concurrency);
const keepAlive = values['keep-alive'];

// A small seeded PRNG (mulberry32): the same mix of clients every run.
let seed = Number(values.seed) >>> 0;
const rand = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const dir = mkdtempSync(join(tmpdir(), 'udsctl-soak-'));
const sock = join(dir, 'soak.sock');
const bin = fileURLToPath(new URL('../bin/udsctl.cjs', import.meta.url));
const server = spawn(process.execPath, [bin, 'serve', '--quiet', '--idle-timeout', '5s', ...(keepAlive ? ['--keep-alive'] : []), sock], {
  stdio: ['ignore', 'ignore', 'pipe'],
});
let serverLog = '';
server.stderr.on('data', (d) => (serverLog += d));
await new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`serve did not start: ${serverLog}`)), 10_000);
  const i = setInterval(() => serverLog.includes('listening on') && (clearInterval(i), clearTimeout(t), resolve()), 20);
});

const REPLY = /^OK\+ at \d\d:\d\d:\d\d\n$/;
const tally = { sent: 0, replies: 0, lost: 0, faultsInjected: 0, errors: {} };
const lossExamples = [];
const countError = (cls) => (tally.errors[cls] = (tally.errors[cls] ?? 0) + 1);

/** One good request, bounded by 5 s. */
function good() {
  return new Promise((resolve) => {
    tally.sent++;
    const c = net.connect(sock);
    const chunks = [];
    let done = false;
    const finish = (how, code) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      c.destroy();
      const reply = Buffer.concat(chunks).toString();
      if (how === 'reply' && REPLY.test(reply)) tally.replies++;
      else if (how === 'error' && ['EAGAIN', 'ECONNREFUSED', 'EMFILE'].includes(code)) countError(code); // refused at connect: the client knows
      else {
        tally.lost++;
        if (lossExamples.length < 5) lossExamples.push({ how, code, reply });
      }
      resolve();
    };
    const timer = setTimeout(() => finish('timeout'), 5_000);
    c.on('data', (d) => {
      chunks.push(d);
      if (keepAlive && Buffer.concat(chunks).includes(0x0a)) finish('reply');
    });
    c.on('end', () => finish('reply'));
    c.on('error', (e) => finish('error', e.code));
    c.write(keepAlive ? `req ${tally.sent}\n` : `req ${tally.sent}`);
  });
}

/** One misbehaving client: never waits long, never counted as a request. */
function bad() {
  tally.faultsInjected++;
  const kind = ['reset-mid-reply', 'half-close', 'vanish', 'garbage'][Math.floor(rand() * 4)];
  countError(`injected:${kind}`);
  return new Promise((resolve) => {
    const c = net.connect(sock);
    const timer = setTimeout(() => (c.destroy(), resolve()), 2_000);
    const end = () => (clearTimeout(timer), c.destroy(), resolve());
    c.on('error', end);
    c.on('close', end);
    c.on('connect', () => {
      if (kind === 'vanish') return c.destroy();
      if (kind === 'garbage') {
        const junk = Buffer.alloc(1 + Math.floor(rand() * 4096));
        for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(rand() * 256);
        c.write(junk);
        return setTimeout(() => c.destroy(), rand() * 50);
      }
      c.write(keepAlive ? 'x\n' : 'x');
      if (kind === 'half-close') c.end();
      // A Unix socket has no RST: closing with the reply unread is how a client aborts.
      if (kind === 'reset-mid-reply') c.once('data', () => c.destroy());
    });
  });
}

const start = Date.now();
let lastReport = start;
async function worker() {
  while (Date.now() - start < durationMs) {
    await (rand() < 0.15 ? bad() : good());
    if (Date.now() - lastReport >= 10_000) {
      lastReport = Date.now();
      process.stderr.write(`soak: ${Math.round((lastReport - start) / 1000)}s sent=${tally.sent} replies=${tally.replies} lost=${tally.lost}\n`);
    }
  }
}
await Promise.all(Array.from({ length: concurrency }, worker));

server.kill('SIGTERM');
const exit = await new Promise((resolve) => {
  const t = setTimeout(() => (server.kill('SIGKILL'), resolve('killed')), 10_000);
  server.on('exit', (code) => (clearTimeout(t), resolve(code)));
});
rmSync(dir, { recursive: true, force: true });

const seconds = (Date.now() - start) / 1000;
console.log(JSON.stringify({ seconds, keepAlive, concurrency, ...tally, serverExit: exit, lossExamples }, null, 2));
const ok = tally.lost === 0 && exit === 0 && tally.replies > 0;
console.log(ok ? 'soak: PASS (no losses, serve exited 0)' : 'soak: FAIL');
process.exitCode = ok ? 0 : 1;
