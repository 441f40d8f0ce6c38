/**
 * send's hook into the services (issue 20): with no --until and no protocol
 * flag, a recognised service's replies end where its protocol ends them
 * (memcached's `version` answers at once instead of waiting for a close that
 * never comes); -v says which service and how it was recognised.
 */
import type { EndRule } from '../core/framing/end-rule.js';
import { formatEndRule } from '../core/framing/end-rule.js';
import { escapeText } from '../core/escape.js';
import { recogniseTarget } from '../core/service/target.js';
import type { Target } from '../core/socket/target.js';
import type { SocketType } from '../core/socket/socket-type.js';
import { type Io, writeAll } from '../io.js';
import { errColor } from '../render/style.js';

/** The end rule of the recognised service's replies, or null (then send's own default holds). */
export async function serviceReplyEnd(target: Target, flags: { untilGiven?: boolean; type?: SocketType; verbose?: boolean }, io: Io): Promise<EndRule | null> {
  if (flags.untilGiven || (flags.type !== undefined && flags.type !== 'stream')) return null;
  const rec = await recogniseTarget(target, io.env);
  const rule = rec?.service.replyEnd ?? null;
  if (rec && flags.verbose) {
    const c = await errColor();
    const how = rule ? `replies end where its protocol ends them (--until ${formatEndRule(rule)}; give --until to change it)` : 'no end rule of its own: replies end at --until (default eof)';
    await writeAll(io.stderr, `${c.dim('udsctl send:')} ${escapeText(`${rec.service.title}, recognised by ${rec.by}: ${rec.evidence}`)}; ${how}\n`);
  }
  return rule;
}
