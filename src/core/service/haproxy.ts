/**
 * HAProxy's stats (runtime API) socket: one command a connection, a text
 * answer, then HAProxy closes. `show info` is read-only and names the version,
 * uptime and the process's load. The generic form of "a command socket that
 * answers a line and closes" is the line service; this one knows what to ask.
 */
import type { EndRule } from '../framing/end-rule.js';
import type { Service, ServiceReply, Verdict } from './types.js';

const EOF_RULE: EndRule = { kind: 'eof' };
const SHOW_INFO = Buffer.from('show info\n');

function judge(reply: ServiceReply): Verdict {
  const text = reply.bytes.toString('latin1');
  const field = (k: string): string | undefined => new RegExp(`^${k}: ?([^\\n]{0,80})$`, 'm').exec(text)?.[1];
  const version = field('Version');
  if (text.startsWith('HTTP/1.')) {
    // HAProxy's process also holds its frontends' sockets: this one is an HTTP frontend, alive.
    return { code: 'OK', summary: `an HAProxy HTTP frontend (it answered ${JSON.stringify(text.split('\r\n')[0].slice(0, 60))}); probe --http PATH to check a route`, details: { frontend: 'http' } };
  }
  if (!version) {
    const first = text.split('\n')[0].slice(0, 120);
    return { code: 'HAPROXY_ERROR', summary: `show info answered ${JSON.stringify(first)}` };
  }
  const details: Verdict['details'] = { version };
  const up = field('Uptime_sec');
  if (up && /^\d+$/.test(up)) details.uptimeSeconds = Number(up);
  const cur = field('CurrConns');
  const max = field('Maxconn');
  if (cur && /^\d+$/.test(cur)) details.connections = Number(cur);
  if (max && /^\d+$/.test(max)) details.maxConnections = Number(max);
  const name = field('Name') ?? 'HAProxy';
  return { code: 'OK', summary: `${name} ${version} answered show info${details.connections !== undefined ? `; ${details.connections} of ${details.maxConnections ?? '?'} connections` : ''}`, details };
}

export const haproxy: Service = {
  name: 'haproxy',
  title: 'HAProxy stats socket',
  socketTypes: ['stream'],
  recognise: {
    process: /^haproxy$/,
    path: /(^|\/)haproxy[^/]*\.sock$|(^|\/)(admin|stats)\.sock$/,
    reply: (b) => /^Unknown command[:.]/.test(b.subarray(0, 20).toString('latin1')) && b.includes('The following commands are valid'),
  },
  check: { kind: 'request', request: () => SHOW_INFO, until: () => EOF_RULE, judge },
  findings: [
    {
      code: 'HAPROXY_ERROR',
      severity: 'CRITICAL',
      title: 'HAProxy refused show info',
      cause: "the stats socket answered show info with an error (a level below 'user', a master CLI that wants a process prefix, or not HAProxy)",
      fix: "read the answer shown; give the socket 'level user' or higher in haproxy.cfg (stats socket ... level user)",
    },
  ],
  flag: '--as haproxy',
  replyEnd: EOF_RULE,
  // Read-only, and HAProxy closes after it: one request per connection (oneshot).
  benchRequest: { payload: SHOW_INFO, until: EOF_RULE, describe: "'show info' (HAProxy stats socket)" },
};
