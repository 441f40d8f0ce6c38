/**
 * serve --type dgram names each datagram's sender: pid, uid, gid
 * (SCM_CREDENTIALS, the kernel's word: SO_PASSCRED on the receiver) and the
 * process name, against senders udsctl did not write (Python, systemd-notify,
 * socat). Linux only: the credentials are Linux's.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { killChildren, run } from '../helpers/children.js';
import { IS_ROOT, ME, requirePeers } from '../helpers/requirements.js';
import { killAll, startCli, waitExit } from '../helpers/run-cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';

beforeEach((ctx) => {
  if (process.platform !== 'linux') ctx.skip();
  requirePeers('python3');
});
afterEach(async () => {
  killAll();
  await killChildren();
});

/** A background serve's stderr, and a bounded wait for a pattern in it. */
function stderrOf(child: ChildProcess) {
  let text = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (text += s));
  return {
    async until(re: RegExp, timeoutMs = 10_000): Promise<string> {
      const end = Date.now() + timeoutMs;
      while (!re.test(text)) {
        if (Date.now() > end || child.exitCode !== null) throw new Error(`no ${re} in serve's stderr: ${JSON.stringify(text)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return text;
    },
  };
}

async function serveDgram(json: boolean): Promise<{ path: string; server: ChildProcess; err: ReturnType<typeof stderrOf> }> {
  const path = join(tmpDir(), 'notify.sock');
  const server = startCli(['serve', '--type', 'dgram', ...(json ? ['--json'] : []), path]);
  const err = stderrOf(server);
  await err.until(/listening/);
  return { path, server, err };
}

/**
 * A Python sender that names itself first: it prints its pid, then sends one
 * datagram from an unbound socket (as sd_notify(3) does) and waits for a line
 * on stdin, so that it is still alive (its name readable) when serve logs it.
 */
const PY_SENDER = `
import os, socket, sys
print(os.getpid(), flush=True)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(sys.argv[2].encode(), sys.argv[1])
sys.stdin.readline()
`;

describe('serve --type dgram: who sent each datagram (SCM_CREDENTIALS)', () => {
  it("a Python sender: its own pid, uid, gid and process name, in the human line and in --json (source scm_credentials)", async () => {
    for (const json of [false, true]) {
      const { path, server, err } = await serveDgram(json);
      const py = await import('node:child_process').then(({ spawn }) => spawn('python3', ['-c', PY_SENDER, path, `READY=1 json=${json}`], { stdio: ['pipe', 'pipe', 'inherit'] }));
      const pid = await new Promise<number>((resolve) => py.stdout!.once('data', (b: Buffer) => resolve(Number(b.toString().trim()))));
      const log = await err.until(new RegExp(`json=${json}`));
      py.stdin!.end('\n');
      if (json) {
        const rec = log
          .split('\n')
          .filter((l) => l.includes('"event":"datagram"'))
          .map((l) => JSON.parse(l))[0];
        expect(rec).toMatchObject({ from: null, data: 'READY=1 json=true', peer: { pid, uid: ME.uid, gid: ME.gid, name: 'python3', source: 'scm_credentials' } });
      } else {
        expect(log).toContain(`from an unbound sender [pid ${pid} (python3), uid ${ME.uid}, gid ${ME.gid}]: 18 bytes "READY=1 json=false"`);
      }
      server.kill('SIGTERM');
      expect(await waitExit(server)).toBe(0);
    }
  });

  it('systemd-notify: the pid it sends as (root: its parent, the service, as sd_pid_notify claims it; else its own), never a made-up one', async () => {
    requirePeers('systemd-notify');
    const { path, server, err } = await serveDgram(true);
    // bash runs systemd-notify as a child (a command follows it) and says its own pid.
    const r = await run('bash', ['-c', 'systemd-notify --ready --status=warming-up; echo "bash=$$"'], { env: { ...process.env, NOTIFY_SOCKET: path }, timeoutMs: 20_000 });
    expect(r.code, r.stderr).toBe(0);
    const bash = Number(/bash=(\d+)/.exec(r.stdout)?.[1]);
    const log = await err.until(/BARRIER=1/);
    const recs = log
      .split('\n')
      .filter((l) => l.includes('"event":"datagram"'))
      .map((l) => JSON.parse(l));
    const ready = recs.find((x) => /READY=1/.test(x.data));
    const barrier = recs.find((x) => /BARRIER=1/.test(x.data));
    expect(ready.data).toMatch(/STATUS=warming-up/);
    expect(ready.peer).toMatchObject({ uid: ME.uid, gid: ME.gid, source: 'scm_credentials' });
    // The barrier is sent with systemd-notify's own credentials: its own pid, not bash's.
    expect(barrier.peer.pid).toBeGreaterThan(0);
    expect(barrier.peer.pid).not.toBe(bash);
    // READY=1 is sent "from" its parent when the kernel lets it claim that pid (root); else as itself.
    expect(ready.peer.pid).toBe(IS_ROOT ? bash : barrier.peer.pid);
    server.kill('SIGTERM');
    expect(await waitExit(server)).toBe(0);
  });

  it('socat UNIX-SENDTO: named too (socat); the sender address stays unbound: SO_PASSCRED on the receiver binds no sender', async () => {
    requirePeers('socat');
    const { path, server, err } = await serveDgram(false);
    const s = await run('bash', ['-c', `printf from-socat | socat -u - UNIX-SENDTO:${path}`], { timeoutMs: 10_000 });
    expect(s.code, s.stderr).toBe(0);
    const log = await err.until(/from-socat/);
    expect(log).toMatch(/from an unbound sender \[pid \d+( \(socat\))?, uid \d+, gid \d+\]: 10 bytes "from-socat"/);
    server.kill('SIGTERM');
  });
});
