/**
 * send, probe and bench agree on escapes (issue 13): \n \r \t \0 \\ \xHH are
 * understood by default in send's message, probe's --send/--expect and bench's
 * --payload/--expect; --literal sends the text as written. A real server
 * records the bytes that arrived.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, runCli } from '../helpers/run-cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';
import { startReplyServer } from '../helpers/hostile-text.js';

afterEach(() => killAll());

const REQUEST = 'GET / HTTP/1.0\\r\\n\\r\\n'; // as typed in a shell, in single quotes

describe('escapes: understood by default, --literal turns them off', () => {
  it("send: 'GET / HTTP/1.0\\r\\n\\r\\n' sends CR LF; --literal sends the backslashes; -e is still accepted", async () => {
    const dir = tmpDir();
    const srv = await startReplyServer(join(dir, 's.sock'), Buffer.from('HTTP/1.0 200 OK\r\n\r\n'));
    let r = await runCli(['send', srv.path, REQUEST]);
    expect(r.status, r.stderr).toBe(0);
    expect((await srv.request(1)).toString('latin1')).toBe('GET / HTTP/1.0\r\n\r\n');

    r = await runCli(['send', '--literal', srv.path, REQUEST]);
    expect(r.status, r.stderr).toBe(0);
    expect((await srv.request(2)).toString('latin1')).toBe(REQUEST);

    r = await runCli(['send', '--escapes', srv.path, 'a\\x00\\tb\\\\']);
    expect(r.status, r.stderr).toBe(0);
    expect(await srv.request(3)).toEqual(Buffer.from([0x61, 0, 9, 0x62, 0x5c]));

    // stdin is sent as it is (a file goes byte for byte) unless -e.
    r = await runCli(['send', srv.path], { input: REQUEST });
    expect((await srv.request(4)).toString('latin1')).toBe(REQUEST);
    r = await runCli(['send', '--escapes', srv.path], { input: REQUEST });
    expect((await srv.request(5)).toString('latin1')).toBe('GET / HTTP/1.0\r\n\r\n');

    r = await runCli(['send', '--literal', '--hex', srv.path, '41']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--literal and --hex contradict each other');
  });

  it('probe --send and --expect: escapes by default, as written with --literal', async () => {
    const dir = tmpDir();
    const srv = await startReplyServer(join(dir, 'p.sock'), Buffer.from('a\\tb\n'));
    let r = await runCli(['probe', '-u', 'eof', '--send', REQUEST, srv.path]);
    expect(r.status, r.stdout).toBe(0);
    expect((await srv.request(1)).toString('latin1')).toBe('GET / HTTP/1.0\r\n\r\n');
    // The reply holds a backslash and a t: --literal --expect finds it, the escaped form (a TAB) does not.
    r = await runCli(['probe', '-u', 'eof', '--literal', '--send', REQUEST, '--expect', 'a\\tb', srv.path]);
    expect(r.status, r.stdout).toBe(0);
    expect((await srv.request(2)).toString('latin1')).toBe(REQUEST);
    r = await runCli(['probe', '-u', 'eof', '--send', REQUEST, '--expect', 'a\\tb', srv.path]);
    expect(r.status, r.stdout).toBe(2);
  });

  it('bench --payload: escapes by default, as written with --literal', async () => {
    const dir = tmpDir();
    const srv = await startReplyServer(join(dir, 'b.sock'), Buffer.from('ok\n'));
    let r = await runCli(['bench', '-n', '1', '-c', '1', '--workers', '1', '--payload', REQUEST, srv.path], { timeoutMs: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    await srv.requestLike((b) => b.toString('latin1') === 'GET / HTTP/1.0\r\n\r\n');
    expect(srv.requests.some((b) => b.toString('latin1') === REQUEST)).toBe(false);
    r = await runCli(['bench', '-n', '1', '-c', '1', '--workers', '1', '--literal', '--payload', REQUEST, srv.path], { timeoutMs: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    await srv.requestLike((b) => b.toString('latin1') === REQUEST);
  });
});
