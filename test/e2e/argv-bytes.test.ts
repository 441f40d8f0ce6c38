/**
 * Argument bytes that are not UTF-8 arrive unchanged (issue 19 item 2): Node
 * decodes argv lossily (0xff becomes U+FFFD), the CLI reads the bytes back
 * from /proc/self/cmdline. The arguments are made by the shell's printf, as
 * a user's `"$(printf 'A\xff\xfeB')"` would be; the peer is Python, which
 * binds and reports bytes as they are.
 */
import { once } from 'node:events';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killChildren, spawnChild, run } from '../helpers/children.js';
import { BIN } from '../helpers/run-cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';

afterEach(() => killChildren());

/** Run udsctl through sh: $1.. are given to the script, which builds the byte arguments with printf. */
const viaShell = (script: string, ...args: string[]) =>
  run('/bin/sh', ['-c', `node "$0" ${script}`, BIN, ...args], { env: { ...process.env, NO_COLOR: '1' }, timeoutMs: 15_000 });

/** A Python listener on a path given in octal-escaped form (so the path's bytes need no UTF-8): replies with the hex of what it read. */
async function pythonHexServer(pathPrintf: string): Promise<void> {
  const code = `
import socket, sys, subprocess
p = subprocess.run(['printf', sys.argv[1]], capture_output=True).stdout
s = socket.socket(socket.AF_UNIX); s.bind(p); s.listen(8)
print('ready', flush=True)
while True:
    c, _ = s.accept(); d = c.recv(4096); c.sendall(b'got ' + d.hex().encode() + b'\\n'); c.close()
`;
  const peer = spawnChild('python3', ['-c', code, pathPrintf], { timeoutMs: 30_000 });
  await new Promise<void>((resolve, reject) => {
    peer.child.stdout!.on('data', () => peer.stdout().includes('ready') && resolve());
    peer.exited.then(() => reject(new Error(`python peer exited: ${peer.stderr()}`)));
  });
}

describe('argument bytes that are not UTF-8', () => {
  it('a message argument is sent byte for byte (escapes on and off)', async () => {
    const dir = tmpDir();
    const path = join(dir, 's.sock');
    const got: Buffer[] = [];
    const server = net.createServer((c) => {
      const parts: Buffer[] = [];
      c.on('data', (d) => parts.push(d)).on('end', () => {
        got.push(Buffer.concat(parts));
        c.end('ok\n');
      });
    });
    server.listen(path);
    await once(server, 'listening');
    try {
      const r = await viaShell(`send -N "$1" "$(printf 'A\\377\\376B')"`, path);
      expect(r.code, r.stderr).toBe(0);
      const lit = await viaShell(`send -N --literal "$1" "$(printf '\\303\\251\\377\\\\x41')"`, path);
      expect(lit.code, lit.stderr).toBe(0);
      expect(got.map((b) => b.toString('hex'))).toEqual(['41fffe42', 'c3a9ff5c783431']);
    } finally {
      server.close();
    }
  });

  it('a path argument names the same file (send, probe); it is shown escaped', async () => {
    const dir = tmpDir();
    await pythonHexServer(`${dir}/s\\377.sock`);
    const send = await viaShell(`send "$1/s$(printf '\\377').sock" "$(printf '\\376')"`, dir);
    expect(send.code, send.stderr).toBe(0);
    expect(send.stdout).toBe('got fe\n');
    const probe = await viaShell(`probe "$1/s$(printf '\\377').sock"`, dir);
    expect(probe.code, probe.stdout + probe.stderr).toBe(0);
    expect(probe.stdout).toContain(`${dir}/s\\xff.sock`);
    // Another file (U+FFFD's bytes, as Node alone would have made of it) is not that socket.
    const other = await viaShell(`send "$1/s$(printf '\\357\\277\\275').sock" x`, dir);
    expect(other.code).not.toBe(0);
  });
});
