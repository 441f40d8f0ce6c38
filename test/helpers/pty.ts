/**
 * Drive a command on a real pseudo-terminal (test/fixtures/pty-drive.py: keys
 * typed, output read as a user sees it), for the interactive-session tests.
 */
import { join } from 'node:path';
import { expect } from 'vitest';
import { run } from './children.js';
import { FIXTURES } from './peers.js';
import { BIN } from './run-cli.js';

const PTY = join(FIXTURES, 'pty-drive.py');
export const CTRL_D = '\u0004';
export const CTRL_C = '\u0003';
export const ESC = '\u001b';

export type Step = ['expect', string] | ['type', string] | ['exit'];
export interface PtyResult {
  ok: boolean;
  status: number | null;
  signal: number | null;
  output: string;
  error: string | null;
  /** The output without colour (SGR) sequences. */
  plain: string;
}

/**
 * Run `script` under bash on a pseudo-terminal and type `steps` into it. The
 * output has the pty's "\r\n" turned back into "\n".
 */
export async function onTerminal(script: string, steps: Step[], env: NodeJS.ProcessEnv = {}): Promise<PtyResult> {
  const r = await run('python3', [PTY, JSON.stringify(steps), '--', 'bash', '--norc', '--noprofile', '-c', script], {
    timeoutMs: 60_000,
    env: { ...process.env, TERM: 'xterm', FORCE_COLOR: '', NO_COLOR: '', ...env },
  });
  expect(r.code, r.stderr).toBe(0);
  const res = JSON.parse(r.stdout) as PtyResult;
  res.output = res.output.replace(/\r\n/g, '\n');
  res.plain = res.output.replace(/\u001b\[\d+m/g, '');
  expect(res.error, res.output).toBeNull();
  return res;
}

/** The command, then what the shell reads after it: a line left over would be printed as LEFT:. */
export const thenShell = (cmd: string) => `${cmd}; echo "status=$?"; if read -t 1 x && [ -n "$x" ]; then echo "LEFT:$x"; fi; echo END`;
export const udsctl = (args: string) => `node ${BIN} ${args}`;

