/**
 * bench's hook into the services (issue 20): with no request given (--payload,
 * --size, a protocol flag) and no --until, a recognised service gets its own
 * request (memcached `version`, redis PING, HTTP GET /, FastCGI GET_VALUES), framed by its
 * protocol; one whose check is a conversation (PostgreSQL) is named, and the line goes.
 */
import type { EndRule } from '../core/framing/end-rule.js';
import { escapeText } from '../core/escape.js';
import { recogniseTarget } from '../core/service/target.js';
import { parseTarget } from '../core/socket/target.js';
import type { Io } from '../io.js';

/** The recognised service's bench request, said on stderr; null when none (bench's own default holds). */
export async function serviceBenchRequest(target: string, io: Io, quiet: boolean): Promise<{ payload: Buffer; until: EndRule } | null> {
  const rec = await recogniseTarget(parseTarget(target), io.env);
  const req = rec?.service.benchRequest;
  if (!rec) return null;
  if (!req) {
    // A conversation (PostgreSQL's startup, D-Bus's handshake, gRPC over HTTP/2) is no one request: say so, not a silent line it cannot parse.
    if (!quiet && rec.service.check.kind !== 'line') io.stderr.write(`udsctl bench: ${escapeText(`${rec.service.title}, recognised by ${rec.by}: ${rec.evidence}`)}; it has no one-request check for bench, so udsctl's line goes (give --payload and --until in its protocol)\n`);
    return null;
  }
  if (!quiet) io.stderr.write(`udsctl bench: ${escapeText(`${rec.service.title}, recognised by ${rec.by}: ${rec.evidence}`)}; sending ${req.describe} (give --payload or a protocol flag to change it)\n`);
  return { payload: req.payload, until: req.until };
}
