/**
 * memcached's text protocol: `version` is its health request (read-only, one
 * line back); its replies end where the protocol says, which no plain end rule
 * can tell (`get` answers VALUE blocks then END, `stats` STAT lines then END,
 * `set` one line): its framer is src/core/framing/memcached.ts, a named one
 * (framing/named.ts), so bench's worker threads can make it too.
 */
import type { EndRule } from '../framing/end-rule.js';
import type { Service, ServiceReply, Verdict } from './types.js';

/** The end of a memcached text reply, as an end rule send, probe and bench take. */
export const MEMCACHED_REPLY: EndRule = { kind: 'framer', name: 'memcached' };

const VERSION_REQUEST = Buffer.from('version\r\n');

function judge(reply: ServiceReply): Verdict {
  const line = reply.bytes.toString('latin1').replace(/\r?\n$/, '');
  const m = /^VERSION (\S+)/.exec(line);
  if (m) return { code: 'OK', summary: `version ${m[1]}`, details: { version: m[1] } };
  return { code: 'MEMCACHED_ERROR', summary: `memcached answered version with ${JSON.stringify(line.slice(0, 120))}` };
}

export const memcached: Service = {
  name: 'memcached',
  title: 'memcached',
  socketTypes: ['stream'],
  recognise: {
    process: /^memcached$/,
    path: /memcached[^/]*\.sock$/,
    // Its answer to a line it does not know.
    reply: (b) => b.equals(Buffer.from('ERROR\r\n')),
  },
  check: {
    kind: 'request',
    request: () => VERSION_REQUEST,
    until: () => MEMCACHED_REPLY,
    judge,
  },
  findings: [
    {
      code: 'MEMCACHED_ERROR',
      severity: 'CRITICAL',
      title: 'memcached answered an error',
      cause: 'memcached answered `version` with an error: out of connections (-c), out of memory, or not memcached at all',
      fix: "read the reply shown; raise memcached's -c if it names too many connections, or check the path belongs to memcached",
    },
  ],
  replyEnd: MEMCACHED_REPLY,
  benchRequest: { payload: VERSION_REQUEST, until: MEMCACHED_REPLY, describe: "'version\\r\\n' (memcached)" },
};
