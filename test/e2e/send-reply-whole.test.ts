/**
 * send streams the whole reply, as curl does (issue 22): --http writes a body
 * of any size to stdout as it comes (Content-Length or chunked, de-chunked);
 * --max-reply bounds only what udsctl keeps (--json, -v). Where a limit does
 * cut what the user asked for (a RESP reply is decoded whole), the exit status
 * and a one-line message say so. The HTTP server is Node's own http module.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, runCli } from '../helpers/run-cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';

const BODY = randomBytes(3 * 1024 * 1024);
const closers: (() => void)[] = [];
afterEach(() => {
  killAll();
  for (const c of closers.splice(0)) c();
});

async function httpServer(): Promise<string> {
  const path = join(tmpDir(), 'http.sock');
  const server = http.createServer((req, res) => {
    if (req.url === '/chunked') {
      // No Content-Length: Node sends it chunked, one chunk per write.
      for (let i = 0; i < BODY.length; i += 100_000) res.write(BODY.subarray(i, i + 100_000));
      res.end();
    } else if (req.url === '/big') {
      res.setHeader('Content-Length', BODY.length);
      res.end(BODY);
    } else {
      res.statusCode = 404;
      res.end('no\n');
    }
  });
  await new Promise<void>((r) => server.listen(path, r));
  closers.push(() => server.close());
  return path;
}

describe('send --http streams the body whole', () => {
  it('a 3 MiB body with Content-Length reaches stdout whole, exit 0, also with --max-reply 10', async () => {
    const sock = await httpServer();
    for (const extra of [[], ['--max-reply', '10']]) {
      const r = await runCli(['send', ...extra, '--http', '/big', sock], { timeoutMs: 60_000 });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdoutBytes.equals(BODY)).toBe(true);
    }
  });

  it('a chunked 3 MiB body is de-chunked on the way; -i puts the head first', async () => {
    const sock = await httpServer();
    const r = await runCli(['send', '-i', '--http', '/chunked', sock], { timeoutMs: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = r.stdoutBytes;
    const headEnd = out.indexOf('\r\n\r\n') + 4;
    expect(out.subarray(0, headEnd).toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*transfer-encoding: chunked/i);
    expect(out.subarray(headEnd).equals(BODY)).toBe(true);
  });

  it('an error status: the body on stdout, the status line on stderr, exit 10', async () => {
    const sock = await httpServer();
    const r = await runCli(['send', '--http', '/nope', sock]);
    expect(r.stdout).toBe('no\n');
    expect(r.stderr).toMatch(/HTTP\/1\.1 404 Not Found/);
    expect(r.status).toBe(10);
  });
});

describe('a reply decoded whole that --max-reply cuts is said, never shown as if whole', () => {
  it('--resp with a reply over --max-reply: exit 12 and one line naming --max-reply', async () => {
    const path = join(tmpDir(), 'resp.sock');
    const server = net.createServer((c) => c.once('data', () => c.write(`$20\r\n${'v'.repeat(20)}\r\n`)));
    await new Promise<void>((r) => server.listen(path, r));
    closers.push(() => server.close());
    const r = await runCli(['send', '--max-reply', '10', '--resp', 'GET k', path]);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^udsctl send: the reply was 27 bytes, more than --max-reply \(10\).*raise --max-reply\n$/);
    expect(r.status).toBe(12);
  });
  it('--json with a reply over --max-reply: the record keeps the first bytes and says truncated; exit 12 and one line', async () => {
    const path = await httpServer();
    const r = await runCli(['send', '--json', '--max-reply', '1000', path, 'GET /big HTTP/1.0\\r\\n\\r\\n']);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ ok: true, truncated: true });
    expect(j.replyBytes).toBeGreaterThan(BODY.length);
    expect(r.stderr).toMatch(/^udsctl send: the reply was \d+ bytes, more than --max-reply \(1000\): the record keeps the first 1000 .*raise --max-reply\n$/);
    expect(r.status).toBe(12);
    // Kept whole: exit 0, nothing on stderr.
    const whole = await runCli(['send', '--json', path, 'GET /nothing HTTP/1.0\\r\\n\\r\\n']);
    expect([whole.status, whole.stderr, JSON.parse(whole.stdout).truncated]).toEqual([0, '', false]);
  });
});
