/**
 * Spawn the real CLI (`node bin/udsctl.cjs`) and collect stdout, stderr and the
 * exit status separately. Every child is bounded by a timeout and killed by
 * killAll() (call it in afterEach).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireRoot, worldDir } from './requirements.js';

export const BIN = fileURLToPath(new URL('../../bin/udsctl.cjs', import.meta.url));
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const children = new Set<ChildProcess>();

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stdoutBytes: Buffer;
  stderr: string;
  stderrBytes: Buffer;
}

export interface RunOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /**
   * Prefix command, e.g. AS_NOBODY (['setpriv', '--reuid=65534', ...]) to drop
   * root. With setpriv the test needs root (it skips otherwise), and the CLI
   * runs from the world-readable copy of the build, which any user can read.
   */
  wrap?: string[];
  cwd?: string;
}

/** Run udsctl to completion. */
export async function runCli(args: string[], opts: RunOptions = {}): Promise<CliResult> {
  const child = startCli(args, opts);
  if (opts.input !== undefined) child.stdin!.end(opts.input);
  else child.stdin!.end();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (c: Buffer) => out.push(c));
  child.stderr!.on('data', (c: Buffer) => err.push(c));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 15_000);
  const [status, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  const stdoutBytes = Buffer.concat(out);
  const stderrBytes = Buffer.concat(err);
  return { status, signal, stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr: stderrBytes.toString('utf8'), stderrBytes };
}

/** Start udsctl in the background (e.g. serve); the caller reads its streams. */
export function startCli(args: string[], opts: RunOptions = {}): ChildProcess {
  const [cmd, ...pre] = opts.wrap ?? [];
  let bin = BIN;
  if (cmd === 'setpriv') {
    requireRoot('setpriv to another user');
    bin = join(worldDir(), 'bin', 'udsctl.cjs');
  }
  const argv = [...pre, ...(cmd ? [process.execPath] : []), bin, ...args];
  const child = spawn(cmd ?? process.execPath, argv, {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, NO_COLOR: '1', ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('close', () => children.delete(child));
  return child;
}

/** Wait until a background child's stderr contains `text` (bounded). */
export function waitForStderr(child: ChildProcess, text: string | RegExp, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let acc = '';
    const timer = setTimeout(() => {
      child.stderr!.off('data', onData);
      reject(new Error(`timed out waiting for ${text} in stderr; got: ${acc}`));
    }, timeoutMs);
    const onData = (c: Buffer) => {
      acc += c.toString();
      if (typeof text === 'string' ? acc.includes(text) : text.test(acc)) {
        clearTimeout(timer);
        child.stderr!.off('data', onData);
        resolve(acc);
      }
    };
    child.stderr!.on('data', onData);
  });
}

/** Collect everything a background child writes to stderr from now on. */
export function collectStderr(child: ChildProcess): { text: () => string } {
  let acc = '';
  child.stderr!.on('data', (c: Buffer) => (acc += c.toString()));
  return { text: () => acc };
}

/** Wait for a child to exit (bounded, then SIGKILL); the exit code, or the signal's name. */
export async function waitExit(child: ChildProcess, timeoutMs = 10_000): Promise<number | string | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return code ?? signal;
}

/** Kill every child still running. */
export function killAll(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
}
