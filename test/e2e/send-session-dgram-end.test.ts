/**
 * A piped datagram session ends once its input has ended when the receiver
 * answers nothing (sd_notify, syslog: issue 22), instead of waiting --timeout
 * for replies that never come; a receiver that answers still gets the whole
 * wait. The peers are Python's socket module (message-peers.py).
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { killChildren, spawnChild, waitForOutput } from '../helpers/children.js';
import { FIXTURES } from '../helpers/peers.js';
import { requirePeers } from '../helpers/requirements.js';
import { killAll, runCli } from '../helpers/run-cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';

const PEERS = join(FIXTURES, 'message-peers.py');

beforeEach(() => requirePeers('python3'));
afterEach(async () => {
  await killChildren();
  killAll();
});

async function peer(mode: 'dgram-sink' | 'dgram-echo') {
  const path = join(tmpDir(), `${mode}.sock`);
  const p = spawnChild('python3', [PEERS, mode, path], { timeoutMs: 60_000 });
  await waitForOutput(p, /ready/, 10_000);
  return { path, p };
}

describe('send --interactive on a dgram socket, input piped', () => {
  it('the README notify example: a receiver that answers nothing ends the session well before --timeout, exit 0', async () => {
    const { path, p } = await peer('dgram-sink');
    const started = Date.now();
    const r = await runCli(['send', '--interactive', '--timeout', '30s', path], { input: 'READY=1\n', timeoutMs: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    // Generous: the old session waited the whole 30 s.
    expect(Date.now() - started).toBeLessThan(15_000);
    await waitForOutput(p, /got b'READY=1\\n'/);
  });

  it('a receiver that answers: its replies are shown (the session waits for them as before)', async () => {
    const { path } = await peer('dgram-echo');
    const r = await runCli(['send', '--interactive', '--timeout', '2s', path], { input: 'ping\n', timeoutMs: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('ECHO:ping');
  });
});

