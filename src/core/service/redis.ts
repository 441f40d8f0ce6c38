/**
 * Redis (and its forks) over RESP: PING, then INFO server for the version
 * (both read-only). -NOAUTH is a live server that wants a password (OK, named);
 * -LOADING one still loading its dataset (not ready: CRITICAL, so --wait waits).
 */
import type { EndRule } from '../framing/end-rule.js';
import { encodeRespCommand } from '../framing/resp-command.js';
import type { Conversation, Service, Verdict } from './types.js';

const RESP: EndRule = { kind: 'resp' };
const PING = encodeRespCommand(['PING']);
const INFO = encodeRespCommand(['INFO', 'server']);

/** An error reply's first line, without its `-`. */
const errorText = (b: Buffer): string => b.subarray(1, Math.min(b.length, 200)).toString('latin1').split('\r\n')[0];

async function run(conv: Conversation): Promise<Verdict> {
  const pong = await conv.ask(PING, RESP);
  const first = pong.bytes.toString('latin1', 0, Math.min(pong.bytes.length, 200));
  if (pong.failed) {
    const text = errorText(pong.bytes);
    if (/^NOAUTH\b|^WRONGPASS\b|^NOPERM\b/.test(text)) return { code: 'REDIS_NOAUTH', summary: `alive; PING answered -${text}` };
    if (/^LOADING\b/.test(text)) return { code: 'REDIS_LOADING', summary: `PING answered -${text}` };
    if (/^MASTERDOWN\b/.test(text)) return { code: 'REDIS_ERROR', summary: `PING answered -${text}`, fix: 'the replica lost its master and serves no stale data (replica-serve-stale-data no): bring the master back or fix the replication link' };
    return { code: 'REDIS_ERROR', summary: `PING answered -${text}` };
  }
  if (!/^\+PONG\r\n$|^\$4\r\nPONG\r\n$/.test(first)) return { code: 'REDIS_ERROR', summary: `PING answered ${JSON.stringify(first.slice(0, 60))}, not PONG` };
  const details: Verdict['details'] = {};
  // The version is a nicety: a server that refuses INFO (renamed, ACL) is still healthy.
  const info = await conv.ask(INFO, RESP).catch(() => null);
  if (info && !info.failed) {
    const text = info.bytes.toString('latin1');
    for (const [k, name] of [['redis_version', 'version'], ['valkey_version', 'version'], ['redis_mode', 'mode'], ['uptime_in_seconds', 'uptimeSeconds']] as const) {
      const m = new RegExp(`\\r\\n${k}:([^\\r\\n]{1,60})`).exec(text);
      if (m) details[name] = /^\d+$/.test(m[1]) && name === 'uptimeSeconds' ? Number(m[1]) : m[1];
    }
  }
  return { code: 'OK', summary: `PONG${details.version ? ` (Redis ${details.version})` : ''}`, details };
}

export const redis: Service = {
  name: 'redis',
  title: 'Redis (RESP)',
  socketTypes: ['stream'],
  recognise: {
    process: /^(redis-server|redis-sentinel|keydb-server|valkey-server|dragonfly|kvrocks)$/,
    path: /(^|\/)(redis|valkey|keydb)[^/]*\.sock$/,
    // Its error reply to a line it does not know (-ERR unknown command, -NOAUTH).
    reply: (b) => /^-(ERR|NOAUTH|LOADING|WRONGTYPE|MOVED|MASTERDOWN) /.test(b.subarray(0, 16).toString('latin1')),
  },
  check: { kind: 'dialogue', run },
  findings: [
    {
      code: 'REDIS_NOAUTH',
      severity: 'OK',
      title: 'alive, needs a password',
      cause: 'the server answered PING with -NOAUTH (requirepass or ACLs): it is up, and a client without the password is refused',
      fix: 'nothing, if a password is intended; give clients the password (AUTH), or probe with --resp \'AUTH ...\' to check it',
    },
    {
      code: 'REDIS_LOADING',
      severity: 'CRITICAL',
      title: 'Redis is loading its dataset',
      cause: 'the server answered -LOADING: it is reading its RDB/AOF file after a start and serves no commands until done',
      fix: 'wait (probe --wait 60s waits for it); a long load means a large dataset or slow disk',
    },
    {
      code: 'REDIS_ERROR',
      severity: 'CRITICAL',
      title: 'Redis answered PING with an error',
      cause: 'the server answered PING with an error other than NOAUTH or LOADING (MASTERDOWN, a renamed PING, not Redis)',
      fix: "read the error shown and the server's log",
    },
  ],
  flag: "--resp PING",
  replyEnd: RESP,
  benchRequest: { payload: PING, until: RESP, describe: 'PING (RESP)' },
};
