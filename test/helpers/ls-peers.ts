/**
 * The sockets of test/fixtures/ls-peers.py (listeners of each type, a forged
 * /proc/net/unix row, a farm of thousands), held by a Python child until the
 * test ends; `asOther` runs it as uid 65534 when we are root (another user's
 * sockets), as ourselves otherwise.
 */
import { join } from 'node:path';
import { type Spawned, spawnChild, waitForOutput } from './children.js';
import { FIXTURES } from './peers.js';
import { AS_NOBODY, IS_ROOT, worldDir } from './requirements.js';

export interface LsPeer {
  peer: Spawned;
  pid: number;
  inode?: number;
  sockets?: number;
}

/** Start ls-peers.py with `args`; resolves once its sockets are bound. */
export async function lsPeer(args: string[], opts: { asOther?: boolean; timeoutMs?: number } = {}): Promise<LsPeer> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  // Debian's python3 (the first on PATH may be a pyenv one in root's home, out of uid 65534's reach).
  const peer =
    opts.asOther && IS_ROOT
      ? spawnChild(AS_NOBODY[0], [...AS_NOBODY.slice(1), '/usr/bin/python3', join(worldDir(), 'test', 'fixtures', 'ls-peers.py'), ...args], { timeoutMs, cwd: '/' })
      : spawnChild('python3', [join(FIXTURES, 'ls-peers.py'), ...args], { timeoutMs });
  await waitForOutput(peer, /^ready /m, timeoutMs);
  const info = JSON.parse(/^ready (.*)$/m.exec(peer.stdout())![1]);
  return { peer, pid: info.pid, inode: info.inode, sockets: info.sockets };
}
