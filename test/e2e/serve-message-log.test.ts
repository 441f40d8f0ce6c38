/**
 * serve --type dgram | seqpacket with a log reader that stalls: the log is
 * bounded (records dropped and counted, as the stream serve's and the taps'),
 * and SIGTERM ends serve while the reader still does not read. The CLI is
 * what is tested here: its stderr is the log.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { killChildren, spawnChild, waitForOutput } from '../helpers/children.js';
import { FIXTURES } from '../helpers/peers.js';
import { requirePeers } from '../helpers/requirements.js';
import { killAll, startCli, waitExit, waitForStderr } from '../helpers/run-cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';

const PEERS = join(FIXTURES, 'message-tap-peers.py');
/** Far more log than serve holds (1 MiB) and the pipe does (64 KiB): about 250 bytes of JSON each. */
const FLOOD = 30_000;

beforeEach(() => requirePeers('python3'));
afterEach(async () => {
  await killChildren();
  killAll();
});

/** Flood the server with FLOOD messages from a Python peer; resolves once they are all sent. */
async function flood(type: 'dgram' | 'seqpacket', sock: string): Promise<void> {
  const peer =
    type === 'dgram' ? spawnChild('python3', [PEERS, 'dgram-spray', sock, String(FLOOD)], { timeoutMs: 60_000 }) : spawnChild('python3', [PEERS, 'seq-flood', sock, String(FLOOD), '8'], { timeoutMs: 60_000 });
  await waitForOutput(peer, /sent (all|\d+)|blocked after/, 40_000);
}

describe.each(['dgram', 'seqpacket'] as const)('serve --type %s with a stalled log reader', (type) => {
  it('SIGTERM ends serve while the reader still does not read (its last lines given up after a bound)', async () => {
    const sock = join(tmpDir(), 's.sock');
    const child = startCli(['serve', '--type', type, '--json', sock]);
    await waitForStderr(child, /"event":"listening"/, 15_000);
    // The reader stops: nothing more is taken from the pipe.
    child.stderr!.pause();
    await flood(type, sock);
    child.kill('SIGTERM');
    expect(await waitExit(child, 30_000)).toBe(0);
  }, 90_000);

  it('records the reader had no room for are dropped and counted: a note once it reads again, the total at the end', async () => {
    const sock = join(tmpDir(), 's.sock');
    const child = startCli(['serve', '--type', type, '--json', sock]);
    await waitForStderr(child, /"event":"listening"/, 15_000);
    child.stderr!.pause();
    await flood(type, sock);
    // Reading again: the log catches up and says what it dropped.
    const seen = waitForStderr(child, /"dropped":\d+/, 30_000);
    child.stderr!.resume();
    await seen;
    const rest = waitForStderr(child, /"event":"stopped"[^\n]*\n/, 30_000);
    child.kill('SIGTERM');
    const stopped = JSON.parse(/\{"event":"stopped"[^\n]*/.exec(await rest)![0]) as { dropped: number };
    expect(stopped.dropped).toBeGreaterThan(0);
    expect(await waitExit(child, 30_000)).toBe(0);
  }, 90_000);
});
