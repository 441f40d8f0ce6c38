/**
 * --until len: against a Python length-prefixed server, and the HTTP/RESP
 * framers against misbehaving servers (Content-Length longer than the body,
 * chunked without the last chunk, a RESP bulk that never ends): each a precise
 * finding or error, bounded by --timeout.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { killChildren, spawnChild, waitForOutput } from '../helpers/children.js';
import { FIXTURES } from '../helpers/peers.js';
import { requirePeers } from '../helpers/requirements.js';
import { killAll, runCli } from '../helpers/run-cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';

beforeEach(() => requirePeers('python3'));
afterEach(async () => {
  killAll();
  await killChildren();
});

/** probe --json's first target: its code and detail. */
function probeTarget(stdout: string): { code: string; detail: string } {
  return JSON.parse(stdout).targets[0];
}

async function peer(mode: string): Promise<string> {
  const path = join(tmpDir('udsctl-fr-'), 'p.sock');
  const p = spawnChild('python3', [join(FIXTURES, 'protocol-peers.py'), mode, path], { timeoutMs: 60_000 });
  await waitForOutput(p, /^ready$/m, 10_000);
  return path;
}

describe('--until len: with a length-prefixed Python server', () => {
  it('send: len:4be, len:4le and len:2be+2 frames end at their length, the connection still open', async () => {
    const be = await peer('len4be');
    const r = await runCli(['send', '--until', 'len:4be', be, '\\0\\0\\0\\x02hi']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdoutBytes).toEqual(Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from('echo:hi')]));

    const le = await peer('len4le');
    const l = await runCli(['send', '--json', '--until', 'len:4le', le, '\\x03\\0\\0\\0abc']);
    const j = JSON.parse(l.stdout);
    expect([j.code, j.end, j.until]).toEqual(['OK', 'open', 'len:4le']);
    expect(Buffer.from(j.replyBase64, 'base64')).toEqual(Buffer.concat([Buffer.from([8, 0, 0, 0]), Buffer.from('echo:abc')]));

    const off = await peer('len2be+2');
    const o = await runCli(['send', '--until', 'len:2be+2', off, '\\0\\x01\\xaa\\xbbz']);
    expect(o.status, o.stderr).toBe(0);
    expect(o.stdoutBytes).toEqual(Buffer.concat([Buffer.from([0, 6, 0xaa, 0xbb]), Buffer.from('echo:z')]));
  });

  it('probe -k: healthy; bench persistent: many frames per connection, no errors', async () => {
    const be = await peer('len4be');
    const p = await runCli(['probe', '-k', '--until', 'len:4be', '--send', '\\0\\0\\0\\x04ping', '--expect', 'echo:ping', be]);
    expect(p.status, p.stdout).toBe(0);
    const b = await runCli(['bench', '--mode', 'persistent', '-c', '4', '-n', '400', '--until', 'len:4be', '--payload', '\\0\\0\\0\\x04ping', '--json', be], {
      timeoutMs: 60_000,
    });
    const res = JSON.parse(b.stdout);
    expect(res.requests.errors, b.stderr).toBe(0);
    expect(res.requests.ok).toBe(400);
  });

  it('a cut-short frame is a partial reply that says how much of the body came', async () => {
    const be = await peer('len4be');
    const r = await runCli(['send', '--until', 'len:4be', '--timeout', '1s', be, '\\0\\0\\0\\x02hi']);
    expect(r.status).toBe(0); // the control: a whole frame
    const p = await runCli(['probe', '-k', '--until', 'len:2be', '--timeout', '1s', '--send', '\\0\\0\\0\\x02hi', be]);
    // The server answers a 4-byte length; read as 2 bytes ("\0\0" then "\0\x07") the frame is 0 bytes long: fine.
    expect(p.status, p.stdout).toBe(0);
    const q = await runCli(['probe', '-k', '--json', '--until', 'len:4le', '--timeout', '1s', '--send', '\\0\\0\\0\\x02hi', be]);
    expect(q.status).toBe(2);
    const t = probeTarget(q.stdout);
    expect(t.code).toBe('PARTIAL_REPLY');
    expect(t.detail).toMatch(/7 of the 117440512 body bytes the length prefix announced/);
  });

  it('a bad len: rule is a usage error', async () => {
    const r = await runCli(['send', '--until', 'len:3be', '/tmp/nothing.sock', 'x']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/len:SIZE\[be\|le\]\[\+OFFSET\] with SIZE 1, 2 or 4/);
  });
});

describe('HTTP and RESP fault servers: precise, and bounded by --timeout', () => {
  it('Content-Length longer than the body: REPLY_TIMEOUT / PARTIAL_REPLY naming the length and what came', async () => {
    const path = await peer('http-short-body');
    const t0 = Date.now();
    const s = await runCli(['send', '--http', '/', '--timeout', '1s', path]);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(s.status).toBe(7);
    expect(s.stderr).toContain('HTTP 200 with Content-Length 100, but only 10 bytes of body');
    const p = await runCli(['probe', '--http', '/', '--timeout', '1s', '--json', path]);
    expect(p.status).toBe(2);
    const t = probeTarget(p.stdout);
    expect(t.code).toBe('PARTIAL_REPLY');
    expect(t.detail).toContain('Content-Length 100, but only 10 bytes of body');
  });

  it('chunked without the last chunk: says the last chunk never came', async () => {
    const path = await peer('http-no-last-chunk');
    const p = await runCli(['probe', '--http', '/', '--timeout', '1s', '--json', path]);
    expect(p.status).toBe(2);
    const t = probeTarget(p.stdout);
    expect(t.code).toBe('PARTIAL_REPLY');
    expect(t.detail).toContain('chunked body: 5 bytes in 1 chunks, and no last (0-size) chunk');
  });

  it('a body without length ends at the close: send prints it, exit 0', async () => {
    const path = await peer('http-close-body');
    const s = await runCli(['send', '--http', '/', path]);
    expect(s.status, s.stderr).toBe(0);
    expect(s.stdout).toBe('until close\n');
  });

  it('a RESP bulk that never ends: PARTIAL_REPLY with the bytes still owed', async () => {
    const path = await peer('resp-endless-bulk');
    const p = await runCli(['probe', '--json', '--resp', 'GET k', '--timeout', '1s', path]);
    expect(p.status).toBe(2);
    const t = probeTarget(p.stdout);
    expect(t.code).toBe('PARTIAL_REPLY');
    expect(t.detail).toContain('a RESP bulk string with 97 of its bytes still to come');
    const b = await runCli(['bench', '--resp', 'GET k', '--mode', 'persistent', '-c', '2', '-d', '1s', '--timeout', '500ms', '--json', path], { timeoutMs: 30_000 });
    const res = JSON.parse(b.stdout);
    expect(res.requests.ok).toBe(0);
    expect(res.errors[0].code).toBe('REPLY_TIMEOUT');
  });

  it('a reply of another protocol is BAD_FRAME (exit 10), named at once, not after --timeout', async () => {
    const path = await peer('resp-endless-bulk');
    const t0 = Date.now();
    const s = await runCli(['send', '--http', '/', '--timeout', '20s', path]);
    expect(s.status).toBe(10);
    expect(s.stderr).toMatch(/not a valid http reply after \d+ bytes: not an HTTP response/);
    expect(Date.now() - t0).toBeLessThan(15_000);
    const p = await runCli(['probe', '--json', '--http', '/', path]);
    expect(p.status).toBe(2);
    expect(probeTarget(p.stdout)).toMatchObject({ code: 'MISMATCH' });
    const b = JSON.parse((await runCli(['bench', '--http', '/', '-n', '20', '-c', '2', '--json', path], { timeoutMs: 60_000 })).stdout);
    expect(b.errors[0].code).toBe('BAD_FRAME');
    expect(b.errors[0].message).toMatch(/broke the http framing/);
  });
});
