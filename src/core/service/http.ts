/**
 * HTTP/1.1 on a Unix socket (nginx, gunicorn, uvicorn, the Docker API,
 * supervisord, uwsgi --http-socket, Python's http.server). With no path, GET /
 * tells alive from dead: any answer below 500 is a live server (a 404 on / is
 * common for APIs); with a path (--http PATH), 2xx is healthy. 5xx is the
 * application failing behind a live server.
 */
import { buildHttpRequest, decodeHttpResponse } from '../framing/http-message.js';
import type { EndRule } from '../framing/end-rule.js';
import type { CheckContext, Service, ServiceReply, Verdict } from './types.js';

const HTTP_REPLY: EndRule = { kind: 'http', head: false };

/** The status line, as sent (trimmed, at most 100 characters). */
export function statusLine(reply: Buffer): string {
  const nl = reply.indexOf(0x0a);
  return reply.subarray(0, nl < 0 ? Math.min(reply.length, 100) : Math.min(nl, 100)).toString('latin1').trim();
}

function judge(reply: ServiceReply, ctx: CheckContext): Verdict {
  const line = statusLine(reply.bytes);
  const path = ctx.arg ?? '/';
  const head = decodeHttpResponse(reply.bytes).head.toString('latin1');
  const server = /\r\nserver:[ \t]*([^\r\n]{1,80})/i.exec(head)?.[1];
  const details: Verdict['details'] = { status: reply.status, ...(server ? { server } : {}) };
  const s = reply.status;
  if (s >= 500) return { code: 'HTTP_STATUS', severity: 'CRITICAL', summary: `GET ${path} answered ${line}: the application behind the server fails`, details };
  if (ctx.arg === undefined) {
    return { code: 'OK', summary: `GET / answered ${line}: alive${s >= 300 ? ' (probe --http PATH for its health route)' : ''}`, details };
  }
  if (s >= 200 && s < 300) return { code: 'OK', summary: `GET ${path} answered ${line}`, details };
  return { code: 'HTTP_STATUS', severity: 'WARNING', summary: `GET ${path} answered ${line}, not a 2xx`, details };
}

export const http: Service = {
  name: 'http',
  title: 'HTTP/1.1',
  socketTypes: ['stream'],
  recognise: {
    // uwsgi speaks HTTP only with --http-socket (its own protocol otherwise: uwsgi.ts).
    cmdline: /(^|\/)uwsgi\b.*\s--http-socket[ =]/,
    process: /^(nginx|uvicorn|hypercorn|daphne|caddy|apache2|httpd|lighttpd|h2o|envoy|traefik|puma|unicorn)$/,
    // Docker's, nginx's, gunicorn's and supervisord's sockets: rows of known-sockets.ts that speak http.
    path: /(^|\/)(uvicorn|http)[^/]*\.sock$/,
    // A status line; or, to a line without a version (HTTP/0.9 to Python's http.server), an HTML error page alone.
    reply: (b) => /^HTTP\/1\.[01] \d{3}|^<!DOCTYPE html|^<html[\s>]/i.test(b.subarray(0, 16).toString('latin1')),
  },
  check: {
    kind: 'request',
    request: (ctx) => buildHttpRequest({ path: ctx.arg ?? '/', close: false }),
    until: () => HTTP_REPLY,
    judge,
  },
  arg: { name: 'PATH', means: 'GET this path; a 2xx is healthy (default: /, any answer below 500)' },
  findings: [],
  flag: '--http /',
  replyEnd: HTTP_REPLY,
  benchRequest: { get payload() { return buildHttpRequest({ path: '/' }); }, until: HTTP_REPLY, describe: 'GET / (HTTP/1.1)' },
};
