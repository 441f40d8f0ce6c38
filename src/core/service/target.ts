/**
 * Recognising the service at a target without talking to it: the listening
 * process (sock_diag and /proc, as probe looks it up), the
 * path, the socket type. For send and bench, which then end replies where the
 * service's protocol ends them and send its request by default.
 */
import path from 'node:path';
import { findListeners, nameListeners } from '../probe/listener.js';
import { socketTypeFromProc } from '../socket/socket-type.js';
import type { Target } from '../socket/target.js';
import { inspectPath } from '../socket/path-access.js';
import { recogniseWithoutIo } from './index.js';
import { lookAtServer, lookEvidence, peerProcess } from './look.js';
import type { PeerCred } from '../socket/peer.js';
import type { Recognition } from './types.js';

/** Bound on naming the listening process (a scan of /proc when sock_diag cannot name it). */
const LOOKUP_BUDGET_MS = 1_000;

export interface TargetLookup {
  /**
   * The peer of a connection of our own (SO_PEERCRED): its process is asked
   * first, which costs no sock_diag dump nor /proc scan. send passes its
   * exchange's, once a reply stays open.
   */
  peer?: PeerCred | null;
  /** May a connection be opened to name the listener when /proc cannot (default true); false: never a second connection. */
  connect?: boolean;
}

/** The service at a target, from its listener, path and socket type; null when none is recognised (or for TCP). Never rejects. */
export async function recogniseTarget(t: Target, env: Readonly<Record<string, string | undefined>> = process.env, o: TargetLookup = {}): Promise<Recognition | null> {
  if (t.kind === 'tcp') return null;
  try {
    const where = t.kind === 'unix' ? path.resolve(t.path) : undefined;
    if (o.peer) {
      const named = await peerProcess(t, o.peer);
      const byPeer = named.process ? recogniseWithoutIo({ processes: [named.process], path: where, socketType: 'stream', env }) : null;
      if (byPeer?.by === 'process') return { ...byPeer, evidence: `${byPeer.evidence} ${lookEvidence(named)}` };
    }
    const p = t.kind === 'unix' ? await inspectPath(t.path) : null;
    const search = await findListeners(t, p);
    await nameListeners(search, LOOKUP_BUDGET_MS);
    const type = await socketTypeFromProc(t);
    const processes = search.info.owners.map((o) => ({ pid: o.pid, name: o.name, cmdline: o.cmdline }));
    const found = recogniseWithoutIo({ processes, path: where, socketType: type, env });
    if (found || processes.length > 0 || search.info.inodes.length === 0 || type !== 'stream' || o.connect === false) return found;
    // Listening, but its process not named (another user's; the /proc scan out of time): the kernel names it on a connection.
    const look = await lookAtServer(t, { connectTimeout: 1_000, waitMs: 0 });
    const byPeer = look.process ? recogniseWithoutIo({ processes: [look.process], socketType: type }) : null;
    return byPeer ? { ...byPeer, evidence: `${byPeer.evidence} ${lookEvidence(look)}` } : null;
  } catch {
    return null;
  }
}
