// Native reference peers for `npm run perf`: build them, run the C load
// client, start and stop a peer server. Node 20, no dependencies.
//
//   node perf/build.mjs [--force]   build into perf/build/ and print the paths as JSON
//
// Importing this module builds nothing and registers no process listeners;
// the first child it spawns installs one exit hook that kills whatever is
// still running.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PERF_DIR = dirname(fileURLToPath(import.meta.url));
export const BUILD_DIR = join(PERF_DIR, 'build');

const C_FLAGS = ['-O2', '-pthread', '-Wall', '-Wextra'];
const BUILD_TIMEOUT_MS = 120_000;
const TOOL_PROBE_TIMEOUT_MS = 10_000;
const READY_TIMEOUT_MS = 5_000;
const STOP_TIMEOUT_MS = 3_000;
const TAIL_BYTES = 4096;
/** Read by the peers: they ask the kernel to end them if this process dies first. */
const DIE_WITH_PARENT = { UDSCTL_PERF_DIE_WITH_PARENT: '1' };

// ---------------------------------------------------------------- children

const live = new Set();
let hooksInstalled = false;

function killAll() {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

function onFatalSignal(sig) {
  killAll();
  process.removeListener('SIGINT', onFatalSignal);
  process.removeListener('SIGTERM', onFatalSignal);
  // Keep the default "die on signal" unless the caller handles it itself.
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

function track(child) {
  if (!hooksInstalled) {
    hooksInstalled = true;
    process.on('exit', killAll);
    process.on('SIGINT', onFatalSignal);
    process.on('SIGTERM', onFatalSignal);
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

const appendTail = (tail, chunk) => {
  const s = tail + chunk.toString('utf8');
  return s.length > TAIL_BYTES ? s.slice(-TAIL_BYTES) : s;
};

/** Run a command to completion with a time bound; resolves {code, signal, stdout, stderr}. */
function run(cmd, args, { env, timeoutMs, cwd } = {}) {
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = track(spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
    } catch (err) {
      reject(err);
      return;
    }
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (c) => {
      stdout += c;
    });
    child.stderr.on('data', (c) => {
      stderr = appendTail(stderr, c);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    // 'error' (e.g. ENOENT) and 'close' can both fire; settle once.
    let settled = false;
    child.once('error', (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (timedOut) {
        reject(new Error(`${cmd} ${args.join(' ')}: killed after ${timeoutMs} ms\n${stderr}`.trimEnd()));
        return;
      }
      resolve({ code, signal, stdout, stderr });
    });
  });
}

// ---------------------------------------------------------------- build

async function exists(p) {
  try {
    await fsp.access(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Build `out` with `cmd args` unless the stamp beside it says the same source
 * and command made it. A hash of the source, not its mtime, so checkouts and
 * copies do not fool it. Builds to a temporary name and renames, so a running
 * peer or an interrupted build never leaves a half-written binary.
 */
async function buildOne({ name, src, out, cmd, args, env, toolId, force, log }) {
  const source = await fsp.readFile(src);
  const stamp = createHash('sha256')
    .update(source)
    .update('\0' + [cmd, ...args].join('\0') + '\0' + JSON.stringify(env ?? {}) + '\0' + toolId)
    .digest('hex');
  const stampFile = `${out}.stamp`;
  if (!force && (await exists(out))) {
    const old = await fsp.readFile(stampFile, 'utf8').catch(() => '');
    if (old.trim() === stamp) return out;
  }
  const tmp = `${out}.tmp-${process.pid}`;
  const fullArgs = args.map((a) => (a === '$OUT' ? tmp : a));
  log(`perf: building ${name}`);
  let res;
  try {
    res = await run(cmd, fullArgs, { env, timeoutMs: BUILD_TIMEOUT_MS, cwd: PERF_DIR });
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw new Error(`perf: building ${name} failed: ${err.message}`, { cause: err });
  }
  if (res.code !== 0) {
    await fsp.rm(tmp, { force: true });
    throw new Error(`perf: building ${name} failed (exit ${res.code ?? res.signal}):\n${res.stderr}`.trimEnd());
  }
  await fsp.rename(tmp, out);
  await fsp.writeFile(stampFile, stamp + '\n');
  return out;
}

/** First line of `cmd arg`, or null when the tool is missing or fails. */
async function toolVersion(cmd, args) {
  try {
    const r = await run(cmd, args, { timeoutMs: TOOL_PROBE_TIMEOUT_MS });
    return r.code === 0 ? (r.stdout || r.stderr).split('\n')[0].trim() : null;
  } catch {
    return null;
  }
}

/**
 * Build the native peers into perf/build/, skipping what is up to date.
 * Resolves { cClient, cServer, goServer } (absolute paths); goServer is null,
 * with a message through `log`, when there is no Go toolchain. Throws when
 * the C compiler is missing or a build fails.
 */
export async function buildPeers({ force = false, log = (m) => process.stderr.write(m + '\n') } = {}) {
  await fsp.mkdir(BUILD_DIR, { recursive: true });
  const cc = process.env.CC || 'cc';
  const ccId = await toolVersion(cc, ['--version']);
  if (ccId === null) {
    throw new Error(`perf: no C compiler: \`${cc} --version\` failed; install one (apt-get install -y gcc) or set CC`);
  }
  const cBuild = (name) =>
    buildOne({
      name,
      src: join(PERF_DIR, `${name}.c`),
      out: join(BUILD_DIR, name),
      cmd: cc,
      args: [...C_FLAGS, '-o', '$OUT', `${name}.c`],
      toolId: ccId,
      force,
      log,
    });
  // One at a time: the machine has two cores and the builds are short.
  const cClient = await cBuild('c-client');
  const cServer = await cBuild('c-server');

  let goServer = null;
  const go = process.env.GO || 'go';
  const goId = await toolVersion(go, ['version']);
  if (goId === null) {
    log(`perf: go-server skipped: no Go toolchain (\`${go} version\` failed); install golang-go to compare against Go`);
  } else {
    goServer = await buildOne({
      name: 'go-server',
      src: join(PERF_DIR, 'go-server.go'),
      out: join(BUILD_DIR, 'go-server'),
      cmd: go,
      args: ['build', '-trimpath', '-o', '$OUT', 'go-server.go'],
      // Standard library only: no module download, no toolchain switch, caches kept under perf/build.
      env: {
        GOFLAGS: '-mod=mod',
        GO111MODULE: 'on',
        GOPROXY: 'off',
        GOTOOLCHAIN: 'local',
        CGO_ENABLED: '0',
        GOCACHE: join(BUILD_DIR, 'go-cache'),
        GOPATH: join(BUILD_DIR, 'gopath'),
      },
      toolId: goId,
      force,
      log,
    });
  }
  return { cClient, cServer, goServer };
}

// ---------------------------------------------------------------- c-client

/** "3", "2.5s", "500ms", "750us" -> milliseconds; undefined when absent or malformed. */
function flagMs(args, flag) {
  const i = args.indexOf(flag);
  if (i < 0 || i + 1 >= args.length) return undefined;
  const m = /^(\d+(?:\.\d+)?)(s|ms|us)?$/.exec(String(args[i + 1]));
  if (!m) return undefined;
  const v = Number(m[1]);
  return m[2] === 'ms' ? v : m[2] === 'us' ? v / 1000 : v * 1000;
}

/**
 * Run c-client with `args` (its own flags, e.g. ['--path', p, '--mode',
 * 'oneshot', '--duration', '3s']) and resolve its JSON report. A run in which
 * no request succeeded still resolves (requests: 0, errors: N); a usage
 * error, a crash, missing JSON or overrunning --duration + --timeout + 15 s
 * rejects.
 */
export async function runCClient(args, { bin = join(BUILD_DIR, 'c-client'), timeoutMs } = {}) {
  const strArgs = args.map(String);
  const bound = timeoutMs ?? (flagMs(strArgs, '--duration') ?? 3_000) + (flagMs(strArgs, '--timeout') ?? 2_000) + 15_000;
  const res = await run(bin, strArgs, { env: DIE_WITH_PARENT, timeoutMs: bound });
  const line = res.stdout.trim().split('\n').pop() ?? '';
  let report;
  try {
    report = JSON.parse(line);
  } catch {
    report = undefined;
  }
  if ((res.code !== 0 && res.code !== 1) || report === undefined || typeof report.requests !== 'number') {
    throw new Error(
      `c-client ${strArgs.join(' ')}: exit ${res.code ?? res.signal}, no report\n${res.stderr}${res.stdout}`.trimEnd(),
    );
  }
  return report;
}

// ---------------------------------------------------------------- peer servers

/** Connect options for a target as udsctl writes it: path, unix:PATH, host:port (not @abstract). */
function connectOptions(target) {
  const t = String(target);
  if (t.startsWith('unix:')) return { path: t.slice(5) };
  const m = /^(?:tcp:\/\/)?(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9_.-]+)):(\d{1,5})$/.exec(t);
  if (m && (t.startsWith('tcp://') || !t.includes('/'))) return { host: m[1] ?? m[2], port: Number(m[3]) };
  return { path: t };
}

/**
 * Whether an abstract name is listening. libuv measures socket paths with
 * strlen, so Node cannot connect to "\0name"; /proc/net/unix lists listeners
 * instead (flags __SO_ACCEPTCON = 00010000), without touching the server.
 */
async function abstractListening(name) {
  const table = await fsp.readFile('/proc/net/unix', 'utf8').catch(() => '');
  return table.split('\n').some((line) => {
    const f = line.trim().split(/\s+/);
    return f.length >= 8 && f[3] === '00010000' && f.slice(7).join(' ') === name;
  });
}

/** One bounded readiness check; resolves true when something accepts connections there. */
function probe(target, timeoutMs) {
  if (String(target).startsWith('@')) return abstractListening(String(target));
  return new Promise((resolve) => {
    const sock = net.connect(connectOptions(target));
    const done = (ok) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Start a server (`bin args`) and resolve once `socketPath` accepts a
 * connection, within `readyTimeoutMs` (default 5 s). Resolves
 * { pid, child, stop }, where stop() sends SIGTERM, escalates to SIGKILL
 * after `stopTimeoutMs` (default 3 s) and resolves { code, signal, stderr }.
 * Rejects, with the server's stderr, when it exits or is not ready in time,
 * or when something already accepts on socketPath.
 */
export async function startPeerServer(
  bin,
  args,
  socketPath,
  { readyTimeoutMs = READY_TIMEOUT_MS, stopTimeoutMs = STOP_TIMEOUT_MS, env = {}, stdout = 'ignore', stderrFd } = {},
) {
  // A live server on the path would answer our readiness probe for the new one.
  if (await probe(socketPath, 200)) throw new Error(`${socketPath}: already accepting connections; stop that server first`);

  const child = track(
    spawn(bin, args.map(String), {
      env: { ...process.env, ...DIE_WITH_PARENT, ...env },
      // The readiness check is a connect, so stdout is not needed; draining a chatty
      // server's log through this process would cost the CPU being measured.
      // stderrFd: a file the server logs to (a log's cost is the server's, not this process's)
      stdio: ['ignore', stdout, stderrFd ?? 'pipe'],
    }),
  );
  let stderr = '';
  child.stderr?.on('data', (c) => {
    stderr = appendTail(stderr, c);
  });
  let exited = null;
  const exitP = new Promise((resolve) => {
    child.once('error', (err) => {
      // spawn failed (ENOENT, EACCES): no 'exit' follows
      stderr = appendTail(stderr, `cannot start: ${err.message}`);
      exited ??= { code: null, signal: null };
      resolve(exited);
    });
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });

  let stopping;
  const stop = () => {
    stopping ??= (async () => {
      if (!exited) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
        await exitP;
        clearTimeout(t);
      }
      // A server killed before its own cleanup leaves the socket file behind.
      const { path } = connectOptions(socketPath);
      if (path && !path.startsWith('@')) {
        const st = await fsp.lstat(path).catch(() => null);
        if (st?.isSocket()) await fsp.rm(path, { force: true });
      }
      return { ...exited, stderr };
    })();
    return stopping;
  };

  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(
        `${bin} ${args.join(' ')}: ${exited.code === null && exited.signal === null ? 'did not start' : `exited (${exited.code ?? exited.signal})`} before ${socketPath} accepted connections\n${stderr}`.trimEnd(),
      );
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      await stop();
      throw new Error(`${bin}: ${socketPath} did not accept connections within ${readyTimeoutMs} ms\n${stderr}`.trimEnd());
    }
    if (await probe(socketPath, Math.min(500, left))) break;
    await sleep(Math.min(25, Math.max(0, deadline - Date.now())));
  }
  return { pid: child.pid, child, stop };
}

// ---------------------------------------------------------------- CLI

if (process.argv[1] && fileURLToPath(import.meta.url) === (await fsp.realpath(process.argv[1]).catch(() => ''))) {
  const paths = await buildPeers({ force: process.argv.includes('--force') });
  process.stdout.write(JSON.stringify(paths) + '\n');
}
