/**
 * The tap's socket type (serve --upstream): the listener is of the
 * upstream's type, found as send and probe find it (sock_diag, else by
 * connecting), or forced by --type. A stream listener in front of a message
 * upstream, or the reverse, is refused: message boundaries would be lost (or
 * made up) on the way.
 *
 * Connecting to find the type, where sock_diag cannot tell: a dgram
 * connect first (it sends nothing: the upstream sees nothing), then a
 * seqpacket one (a seqpacket upstream sees one connection opened and closed
 * at once); EPROTOTYPE on both means stream. An upstream that is not there
 * yet cannot be told: the listener is then of the --type given, else stream.
 */
import { UdsError } from '../errors.js';
import { connectMessage } from '../exchange-message.js';
import { type SocketType, type SocketTypeSource, socketTypeFromProc } from '../socket/socket-type.js';
import type { Target } from '../socket/target.js';

/** The upstream's type and how it was learnt; null when it cannot be told (not there: ENOENT, ECONNREFUSED). */
export async function upstreamSocketType(up: Target, connectTimeout: number): Promise<{ type: SocketType; source: SocketTypeSource } | null> {
  if (up.kind === 'tcp') return { type: 'stream', source: 'tcp' };
  const fromProc = await socketTypeFromProc(up);
  if (fromProc) return { type: fromProc, source: 'proc' };
  for (const type of ['dgram', 'seqpacket'] as const) {
    try {
      (await connectMessage(up, type, connectTimeout, false)).close();
      return { type, source: 'connect' };
    } catch (err) {
      if ((err as UdsError).code !== 'WRONG_TYPE') return null;
    }
  }
  return { type: 'stream', source: 'connect' };
}

/** What the tap listens as: the upstream's type, or --type's; TYPE_MISMATCH-like usage error (BAD_OPTION) when they differ. */
export async function tapSocketType(upstream: Target, forced: SocketType | undefined, connectTimeout: number): Promise<{ type: SocketType; upstream: { type: SocketType; source: SocketTypeSource } | null }> {
  // --type given: sock_diag only (no connection made to check it).
  const found = forced ? (upstream.kind === 'tcp' ? { type: 'stream' as const, source: 'tcp' as const } : await procOnly(upstream)) : await upstreamSocketType(upstream, connectTimeout);
  if (forced && found && found.type !== forced) {
    const how = found.source === 'proc' ? 'from sock_diag' : found.source === 'tcp' ? 'TCP' : 'found by connecting';
    throw new UdsError(
      'BAD_OPTION',
      `--type ${forced} with --upstream ${upstream.display}: the upstream is a ${found.type} socket (${how}); the tap listens as its upstream (message boundaries would be lost): drop --type`,
    );
  }
  return { type: forced ?? found?.type ?? 'stream', upstream: found };
}

async function procOnly(up: Target): Promise<{ type: SocketType; source: SocketTypeSource } | null> {
  const type = await socketTypeFromProc(up);
  return type ? { type, source: 'proc' } : null;
}
