import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { OPTIONAL_PEERS, type OptionalPeer, findTool, requirePeers } from './requirements.js';

/**
 * Child processes for peers in other languages. Every child gets a hard
 * timeout (SIGKILL) and is tracked, so `killChildren()` in an afterEach ends
 * whatever a failing test left behind: no test can hang on a peer.
 */

const live = new Set<ChildProcess>();

export const DEFAULT_CHILD_TIMEOUT_MS = 10_000;

export interface Spawned {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves when the child exits (code, or the signal that killed it). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Spawn a tracked child, killed with SIGKILL after timeoutMs at the latest.
 * An optional peer (socat, php, python3, ...) that is not installed skips the
 * running test (fails it under UDSCTL_TEST_STRICT=1), whichever helper starts it.
 */
export function spawnChild(cmd: string, args: string[], opts: SpawnOptions & { timeoutMs?: number } = {}): Spawned {
  const { timeoutMs = DEFAULT_CHILD_TIMEOUT_MS, ...spawnOpts } = opts;
  if (Object.hasOwn(OPTIONAL_PEERS, cmd)) {
    requirePeers(cmd as OptionalPeer);
    // nginx and php-fpm are in /usr/sbin, off an ordinary user's PATH.
    cmd = findTool(cmd) ?? cmd;
  }
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], ...spawnOpts });
  live.add(child);
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (err += s));
  // A write to a child that died early must fail the test through its output, not crash the worker.
  child.stdin?.on('error', () => {});
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', (e) => {
      clearTimeout(killer);
      live.delete(child);
      reject(new Error(`could not run ${cmd}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(killer);
      live.delete(child);
      resolve({ code, signal });
    });
  });
  // Callers that never await `exited` must not see an unhandled rejection.
  exited.catch(() => {});
  return { child, stdout: () => out, stderr: () => err, exited };
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run a child to completion with optional stdin; killed (SIGKILL) after timeoutMs. */
export async function run(
  cmd: string,
  args: string[],
  opts: { input?: string | Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<RunResult> {
  const started = performance.now();
  const s = spawnChild(cmd, args, { timeoutMs: opts.timeoutMs, env: opts.env, cwd: opts.cwd });
  if (opts.input !== undefined) s.child.stdin?.end(opts.input);
  else s.child.stdin?.end();
  const { code, signal } = await s.exited;
  return { code, signal, stdout: s.stdout(), stderr: s.stderr(), ms: performance.now() - started };
}

/** Wait until the child's stdout or stderr matches `re` (a peer saying it listens). */
export function waitForOutput(s: Spawned, re: RegExp, timeoutMs = 5_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (re.test(s.stdout()) || re.test(s.stderr())) {
        done();
        resolve();
      }
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`peer did not print ${re} within ${timeoutMs}ms; stdout=${JSON.stringify(s.stdout())} stderr=${JSON.stringify(s.stderr())}`));
    }, timeoutMs);
    const onExit = () => {
      done();
      reject(new Error(`peer exited before printing ${re}; stdout=${JSON.stringify(s.stdout())} stderr=${JSON.stringify(s.stderr())}`));
    };
    const done = () => {
      clearTimeout(timer);
      s.child.stdout?.off('data', check);
      s.child.stderr?.off('data', check);
      s.child.off('close', onExit);
    };
    s.child.stdout?.on('data', check);
    s.child.stderr?.on('data', check);
    s.child.once('close', onExit);
    check();
  });
}

/** SIGKILL every child still running; use in afterEach. */
export async function killChildren(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const c of live) {
    if (c.exitCode === null && c.signalCode === null) {
      waits.push(new Promise((r) => c.once('close', r)));
      c.kill('SIGKILL');
    }
  }
  live.clear();
  await Promise.all(waits);
}
