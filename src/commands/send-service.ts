/**
 * send's hook into the services (issue 20): with no --until and no protocol
 * flag, a recognised service's replies end where its protocol ends them
 * (memcached's `version` answers at once instead of waiting for a close that
 * never comes); -v says which service and how it was recognised.
 */
import type { EndRule } from '../core/framing/end-rule.js';
import { formatEndRule } from '../core/framing/end-rule.js';
import { escapeText } from '../core/escape.js';
import type { Recognition } from '../core/service/types.js';
import type { Target } from '../core/socket/target.js';
import type { PeerCred } from '../core/socket/peer.js';
import type { SocketType } from '../core/socket/socket-type.js';
import { type Io, writeAll } from '../io.js';
import { errColor } from '../render/style.js';

/**
 * The recognised service's end rule for the exchange: `until` at once with
 * -v (which names the service first), else `lateUntil`, looked up only when a
 * reply does not end by the server's close (a lookup costs a sock_diag dump and
 * a /proc scan, more than a whole exchange with a server that closes).
 */
export async function serviceReplyEnd(
  target: Target,
  flags: { untilGiven?: boolean; type?: SocketType; verbose?: boolean },
  io: Io,
): Promise<{ until?: EndRule; lateUntil?: (peer: PeerCred | null) => Promise<EndRule | null> }> {
  if (flags.untilGiven || (flags.type !== undefined && flags.type !== 'stream')) return {};
  // Never a connection of its own (a server that takes one client would give it to the lookup): the exchange's peer instead.
  // The service table and /proc's readers load only for a lookup (most replies end by the server's close).
  const recognise = async (peer?: PeerCred | null) => (await import('../core/service/target.js')).recogniseTarget(target, io.env, { peer, connect: false });
  const late = async (peer: PeerCred | null) => {
    const rec = await recognise(peer);
    if (rec && flags.verbose) await sayRecognised(rec, io);
    return rec?.service.replyEnd ?? null;
  };
  if (!flags.verbose) return { lateUntil: late };
  // -v names the service first when /proc can; another user's server is named later, from the exchange's peer.
  const rec = await recognise();
  if (!rec) return { lateUntil: late };
  await sayRecognised(rec, io);
  return rec.service.replyEnd ? { until: rec.service.replyEnd } : {};
}

/** -v's line: which service, how it was recognised, where its replies end. */
async function sayRecognised(rec: Recognition, io: Io): Promise<void> {
  const rule = rec.service.replyEnd ?? null;
  const c = await errColor();
  const how = rule ? `replies end where its protocol ends them (--until ${formatEndRule(rule)}; give --until to change it)` : 'no end rule of its own: replies end at --until (default eof)';
  await writeAll(io.stderr, `${c.dim('udsctl send:')} ${escapeText(`${rec.service.title}, recognised by ${rec.by}: ${rec.evidence}`)}; ${how}\n`);
}
