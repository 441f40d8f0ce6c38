/**
 * bench's hook into the services (issue 20): with no request given (--payload,
 * --size, a protocol flag) and no --until, a recognised service gets its own
 * request (memcached `version`, redis PING, HTTP GET /), framed by its protocol.
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
  if (!rec || !req) return null;
  if (!quiet) io.stderr.write(`udsctl bench: ${escapeText(`${rec.service.title}, recognised by ${rec.by}: ${rec.evidence}`)}; sending ${req.describe} (give --payload or a protocol flag to change it)\n`);
  return { payload: req.payload, until: req.until };
}
