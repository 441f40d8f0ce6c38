/**
 * Real service daemons for the service checks' tests (issue 20), each like
 * daemons.ts: started in a fresh mkdtemp folder with its config, data, pid and
 * logs inside, listening on a Unix socket there, killed when the test ends.
 * They work as root (CI) and as an ordinary user. postgres and mariadbd
 * refuse to run as root: as root they run as uid/gid 65534 (setpriv) in a
 * folder that user owns; root still connects to any socket.
 *
 * Every start waits for the daemon's own "ready" sign (a log line, the socket
 * file), bounded by READY_MS; a daemon that exits or stays silent fails the
 * test with the tail of its log. A missing daemon skips the test (fails it
 * under UDSCTL_TEST_STRICT=1), as spawnChild does for any optional peer.
 *
 * The first PostgreSQL and MariaDB start of a test process makes a data
 * folder once (initdb, mariadb-install-db: seconds) and copies it for each
 * start after; give a test that starts one a generous timeout (60s).
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject, onTestFinished } from 'vitest';
import { type Spawned, spawnChild } from './children.js';
import { AS_NOBODY, DEBIAN_PYTHON, IS_ROOT, NOBODY, findTool, requirePeers, requirePythonModule } from './requirements.js';
import { tmpDir } from './tmp-dir.js';

/** The bound on any daemon's start (generous: 8 helpers share 2 cores). */
export const READY_MS = 45_000;

/** A running daemon. */
export interface Daemon {
  /** The Unix socket it listens on. */
  sock: string;
  /** Its private folder (config, data, logs). */
  dir: string;
  pid: number;
  /** Its log so far (stderr, or its log file). */
  log(): string;
}

const FIXTURES = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'fixtures');

/** The uid/gid daemons that refuse root run as: 65534 when we are root, else ourselves. */
const DAEMON_IDS = IS_ROOT ? { uid: NOBODY.uid, gid: NOBODY.gid } : { uid: process.getuid!(), gid: process.getgid!() };

/** Prefix running a command as the daemon user (setpriv when root, nothing otherwise). */
const asDaemonUser = (cmd: string, args: string[]): [string, string[]] => (IS_ROOT ? [AS_NOBODY[0], [...AS_NOBODY.slice(1), cmd, ...args]] : [cmd, args]);

/** A fresh folder the daemon user owns (mode 0700), removed at the end of the test. */
function daemonDir(prefix: string): string {
  const dir = tmpDir(prefix);
  if (IS_ROOT) chownSync(dir, DAEMON_IDS.uid, DAEMON_IDS.gid);
  return dir;
}

function tail(text: string, n = 2_000): string {
  return text.length > n ? `...${text.slice(-n)}` : text;
}

/**
 * Wait until `ready()` holds, polling; throw with the log tail when the daemon
 * exits first or READY_MS pass.
 */
async function waitReady(peer: Spawned, what: string, ready: () => boolean, log: () => string, timeoutMs = READY_MS): Promise<void> {
  const until = Date.now() + timeoutMs;
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void peer.exited.then((e) => (exited = e));
  while (!ready()) {
    if (exited) throw new Error(`${what} exited (${exited.signal ?? exited.code}) before it was ready; its log ends:\n${tail(log())}`);
    if (Date.now() > until) throw new Error(`${what} was not ready within ${timeoutMs / 1000}s; its log ends:\n${tail(log())}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * At the end of the test: `signal` (each daemon's own clean and quick stop),
 * then SIGKILL after 10s. Waits for the exit.
 */
function stopAtEnd(peer: Spawned, signal: NodeJS.Signals = 'SIGTERM'): void {
  onTestFinished(async () => {
    const c = peer.child;
    if (c.exitCode !== null || c.signalCode !== null) return;
    c.kill(signal);
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await peer.exited;
    clearTimeout(timer);
  });
}

/** Run a setup command to completion (bounded); throw with its output when it fails. */
function runSetup(cmd: string, args: string[], what: string, opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000, cwd: opts.cwd, env: opts.env });
  if (r.status !== 0) throw new Error(`${what} failed (${r.error?.message ?? r.signal ?? `exit ${r.status}`}): ${tail(`${r.stdout}${r.stderr}`)}`);
  return `${r.stdout}${r.stderr}`;
}

/**
 * A folder made once per test process (a template data folder) inside the
 * run's folder, which the global setup removes after the run (or in the system
 * temp folder, removed at exit, when the global setup did not run).
 */
function processDir(prefix: string): string {
  const runDir = inject('udsctlRunDir');
  const dir = mkdtempSync(join(runDir || tmpdir(), prefix));
  if (!runDir) process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  if (IS_ROOT) chownSync(dir, DAEMON_IDS.uid, DAEMON_IDS.gid);
  return dir;
}

/** cp -a: the copy keeps the daemon user's ownership and the 0700 modes initdb insists on. */
function copyTree(from: string, to: string): void {
  runSetup('cp', ['-a', from, to], `cp -a ${from}`);
}

// ---------------------------------------------------------------------------
// PostgreSQL

let pgTemplate: string | undefined;

/** initdb once per test process: trust authentication, user "postgres", C locale. */
function postgresTemplate(): string {
  if (pgTemplate) return pgTemplate;
  const dir = processDir('udsctl-pgt-');
  const [cmd, args] = asDaemonUser(findTool('initdb')!, ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  runSetup(cmd, args, 'initdb', { cwd: dir });
  pgTemplate = join(dir, 'data');
  return pgTemplate;
}

export interface Postgres extends Daemon {
  /** The socket folder: pg_isready -h DIR, psql -h DIR. */
  socketDir: string;
  /**
   * Open a session (psql, connected, idle) that lasts until the test ends:
   * it takes a slot (maxConnections: 1 then refuses the next client with
   * 53300) and keeps a smart shutdown waiting.
   */
  holdSession(): Promise<void>;
  /**
   * Hold a session (unless one is held already), then ask for a smart shutdown
   * (SIGTERM): new clients get 57P03 "shutting down" while it waits for the session.
   */
  shutDownSmart(): Promise<void>;
}

/**
 * PostgreSQL on DIR/.s.PGSQL.5432, no TCP; user postgres, trust authentication
 * unless `auth: 'scram-sha-256'` (then every client is asked for a password,
 * and no psql session can be held). `standby: true` starts it as a
 * standby with hot_standby off and no primary: it stays in recovery for good
 * and refuses every client with 57P03 ("not accepting connections"), which
 * pg_isready reports as "rejecting connections".
 */
export async function startPostgres(opts: { maxConnections?: number; standby?: boolean; startingUp?: boolean; auth?: 'trust' | 'scram-sha-256' } = {}): Promise<Postgres> {
  requirePeers('initdb', 'postgres', 'psql');
  const dir = daemonDir('udsctl-pg-');
  const data = join(dir, 'data');
  copyTree(postgresTemplate(), data);
  const own = (f: string) => IS_ROOT && chownSync(f, DAEMON_IDS.uid, DAEMON_IDS.gid);
  if (opts.standby) {
    writeFileSync(join(data, 'standby.signal'), '');
    own(join(data, 'standby.signal'));
  }
  const archive = join(dir, 'archive');
  if (opts.startingUp) {
    // Archive recovery whose WAL is only in the archive, fetched by a restore_command that first sleeps:
    // until then the postmaster is still starting up ("the database system is starting up", as pg_isready sees it).
    mkdirSync(archive);
    own(archive);
    for (const f of readdirSync(join(data, 'pg_wal')).filter((n) => /^[0-9A-F]{24}$/.test(n))) renameSync(join(data, 'pg_wal', f), join(archive, f));
    writeFileSync(join(data, 'recovery.signal'), '');
    own(join(data, 'recovery.signal'));
  }
  if (opts.auth && opts.auth !== 'trust') {
    // Every local client must give a password (none is set: nobody gets in, everybody is asked).
    writeFileSync(join(data, 'pg_hba.conf'), `local all all ${opts.auth}\n`);
    own(join(data, 'pg_hba.conf'));
  }
  const settings = {
    listen_addresses: '',
    unix_socket_directories: dir,
    port: '5432',
    fsync: 'off',
    shared_buffers: '16MB',
    max_connections: String(opts.maxConnections ?? 20),
    superuser_reserved_connections: '0',
    hot_standby: opts.standby ? 'off' : 'on',
    ...(opts.startingUp ? { restore_command: `sleep 12; cp ${archive}/%f %p` } : {}),
  };
  const [cmd, args] = asDaemonUser(findTool('postgres')!, ['-D', data, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])]);
  const peer = spawnChild(cmd, args, { timeoutMs: 300_000, cwd: dir });
  // SIGINT: a fast shutdown, which ends held sessions too (a smart one would wait for them).
  stopAtEnd(peer, 'SIGINT');
  const sock = join(dir, '.s.PGSQL.5432');
  const ready = opts.standby ? /entering standby mode/ : opts.startingUp ? /starting archive recovery/ : /database system is ready to accept connections/;
  await waitReady(peer, 'postgres', () => existsSync(sock) && ready.test(peer.stderr()), peer.stderr);
  // A standby says "starting up" until its recovery has begun, then "Hot standby mode is disabled" for good.
  if (opts.standby) await waitStandby(dir, peer);
  let held = 0;
  const holdSession = async () => {
    held++;
    const psql = spawnChild(findTool('psql')!, ['-X', '-q', '-h', dir, '-U', 'postgres', '-d', 'postgres'], { timeoutMs: 300_000 });
    onTestFinished(async () => {
      psql.child.kill('SIGKILL');
      await psql.exited;
    });
    psql.child.stdin!.write('\\echo session-held\n');
    await waitReady(psql, 'a psql session', () => /session-held/.test(psql.stdout()), psql.stderr, 20_000);
  };
  return {
    sock,
    socketDir: dir,
    dir,
    pid: peer.child.pid!,
    log: peer.stderr,
    holdSession,
    async shutDownSmart() {
      if (held === 0) await holdSession();
      peer.child.kill('SIGTERM');
      await waitReady(peer, 'postgres smart shutdown', () => /received smart shutdown request/.test(peer.stderr()), peer.stderr, 20_000);
    },
  };
}

/** Poll with psql until the standby refuses clients for being a standby, not for starting up. */
async function waitStandby(dir: string, peer: Spawned): Promise<void> {
  const until = Date.now() + READY_MS;
  let said = '';
  while (Date.now() < until) {
    const r = spawnSync(findTool('psql')!, ['-X', '-h', dir, '-U', 'postgres', '-c', 'select 1'], { encoding: 'utf8', timeout: 20_000 });
    said = r.stderr;
    if (/Hot standby mode is disabled/.test(said)) return;
    if (peer.child.exitCode !== null) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`the standby postgres did not settle in recovery within ${READY_MS / 1000}s; psql said ${JSON.stringify(said)}; its log ends:\n${tail(peer.stderr())}`);
}

// ---------------------------------------------------------------------------
// MariaDB

let mariadbTemplate: string | undefined;

/** Options both mariadb-install-db and mariadbd get: small InnoDB files, so the template copies fast. */
const MARIADB_SMALL = ['--innodb-log-file-size=4M', '--innodb-buffer-pool-size=8M'];

function mariadbTemplateDir(): string {
  if (mariadbTemplate) return mariadbTemplate;
  const dir = processDir('udsctl-myt-');
  const data = join(dir, 'data');
  const [cmd, args] = asDaemonUser(findTool('mariadb-install-db')!, [
    '--no-defaults',
    `--datadir=${data}`,
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
    '--skip-name-resolve',
    ...MARIADB_SMALL,
  ]);
  runSetup(cmd, args, 'mariadb-install-db', { cwd: dir });
  mariadbTemplate = data;
  return data;
}

/** MariaDB's smallest max_connections; it admits one more client than that (for an admin). */
export const MARIADB_MAX_CONNECTIONS = 10;

export interface Mariadb extends Daemon {
  /**
   * Take every connection slot (max_connections + 1) with clients that got
   * the greeting and stay in the handshake (connect_timeout is an hour), until
   * the test ends: the next client gets ERR 1040 "Too many connections"
   * instead of a greeting.
   */
  exhaustConnections(): Promise<void>;
}

/** MariaDB (mariadbd) on DIR/my.sock, no TCP, with max_connections 10. */
export async function startMariadb(): Promise<Mariadb> {
  requirePeers('mariadb-install-db', 'mariadbd');
  const dir = daemonDir('udsctl-my-');
  const data = join(dir, 'data');
  copyTree(mariadbTemplateDir(), data);
  const sock = join(dir, 'my.sock');
  const [cmd, args] = asDaemonUser(findTool('mariadbd')!, [
    '--no-defaults',
    `--datadir=${data}`,
    `--socket=${sock}`,
    '--skip-networking',
    `--pid-file=${join(dir, 'my.pid')}`,
    `--tmpdir=${dir}`,
    '--skip-log-bin',
    `--max-connections=${MARIADB_MAX_CONNECTIONS}`,
    '--connect-timeout=3600',
    ...MARIADB_SMALL,
  ]);
  const peer = spawnChild(cmd, args, { timeoutMs: 300_000, cwd: dir });
  stopAtEnd(peer, 'SIGTERM');
  await waitReady(peer, 'mariadbd', () => existsSync(sock) && /ready for connections/.test(peer.stderr()), peer.stderr);
  return {
    sock,
    dir,
    pid: peer.child.pid!,
    log: peer.stderr,
    async exhaustConnections() {
      for (let i = 0; i <= MARIADB_MAX_CONNECTIONS; i++) await holdGreeted(sock);
    },
  };
}

/** Connect and wait for the server's first bytes (MySQL's greeting); the client stays until the test ends. */
function holdGreeted(sock: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(sock);
    onTestFinished(() => void s.destroy());
    const timer = setTimeout(() => fail(new Error(`no greeting from ${sock} within 20s`)), 20_000);
    const fail = (e: Error) => {
      clearTimeout(timer);
      s.destroy();
      reject(e);
    };
    s.once('error', fail);
    s.once('data', (d) => {
      clearTimeout(timer);
      // 0xff after the 4-byte header: an ERR packet (the server is already full).
      if (d[4] === 0xff) fail(new Error(`the server refused a held client: ${d.subarray(7).toString('latin1')}`));
      else resolve();
    });
  });
}

// ---------------------------------------------------------------------------
// ssh-agent

export interface SshAgent extends Daemon {
  /** SSH_AUTH_SOCK=sock and the rest of our environment, for ssh-add. */
  env: NodeJS.ProcessEnv;
}

/**
 * ssh-agent (-D: foreground) on DIR/agent.sock with `keys` ed25519 keys
 * (ssh-keygen, ssh-add), their comments from `comments` ("key N" otherwise).
 */
export async function startSshAgent(opts: { keys?: number; comments?: string[] } = {}): Promise<SshAgent> {
  requirePeers('ssh-agent', 'ssh-add', 'ssh-keygen');
  const dir = tmpDir('udsctl-sa-');
  const sock = join(dir, 'agent.sock');
  const peer = spawnChild('ssh-agent', ['-D', '-a', sock], { timeoutMs: 300_000 });
  stopAtEnd(peer);
  const log = () => `${peer.stdout()}${peer.stderr()}`;
  await waitReady(peer, 'ssh-agent', () => existsSync(sock) && /Agent pid/.test(peer.stdout()), log);
  const env = { ...process.env, SSH_AUTH_SOCK: sock };
  for (let i = 0; i < (opts.keys ?? 0); i++) {
    const key = join(dir, `id${i}`);
    runSetup('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', opts.comments?.[i] ?? `key ${i}`, '-f', key], 'ssh-keygen');
    runSetup('ssh-add', ['-q', key], 'ssh-add', { env });
  }
  return { sock, dir, pid: peer.child.pid!, log, env };
}

// ---------------------------------------------------------------------------
// D-Bus

/**
 * dbus-daemon with a session-bus config on DIR/bus. `auth: 'ANONYMOUS'`
 * offers only the ANONYMOUS mechanism (and allows anonymous clients), so
 * `AUTH EXTERNAL` is answered `REJECTED ANONYMOUS`. `asNobody` (root only:
 * call requireRoot first) runs it as uid 65534: a session bus of another
 * user, which accepts root's AUTH EXTERNAL and then drops it at BEGIN.
 */
export async function startDbus(opts: { auth?: 'EXTERNAL' | 'ANONYMOUS'; asNobody?: boolean } = {}): Promise<Daemon & { address: string }> {
  requirePeers('dbus-daemon');
  if (opts.asNobody && !IS_ROOT) throw new Error('startDbus({ asNobody }) needs root: call requireRoot() first');
  const dir = opts.asNobody ? daemonDir('udsctl-db-') : tmpDir('udsctl-db-');
  const sock = join(dir, 'bus');
  const conf = join(dir, 'bus.conf');
  const auth = opts.auth ?? 'EXTERNAL';
  writeFileSync(
    conf,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${sock}</listen>
  <auth>${auth}</auth>
  ${auth === 'ANONYMOUS' ? '<allow_anonymous/>' : ''}
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`,
  );
  const argv = [findTool('dbus-daemon')!, `--config-file=${conf}`, '--nofork', '--nopidfile', '--print-address'];
  const peer = opts.asNobody ? spawnChild(AS_NOBODY[0], [...AS_NOBODY.slice(1), ...argv], { timeoutMs: 300_000 }) : spawnChild(argv[0], argv.slice(1), { timeoutMs: 300_000 });
  stopAtEnd(peer);
  const log = () => `${peer.stdout()}${peer.stderr()}`;
  await waitReady(peer, 'dbus-daemon', () => /unix:path=/.test(peer.stdout()), log);
  return { sock, dir, pid: peer.child.pid!, log, address: peer.stdout().trim() };
}

// ---------------------------------------------------------------------------
// gRPC (python3-grpcio)

/**
 * A Python gRPC server (test/fixtures/grpc-health-server.py) on DIR/grpc.sock.
 * mode serving / not-serving: the health service answers "" with that status,
 * `services` adds named ones; no-health: a server without the health service.
 */
export async function startGrpc(
  opts: { mode?: 'serving' | 'not-serving' | 'no-health'; services?: Record<string, 'serving' | 'not-serving' | 'unknown'> } = {},
): Promise<Daemon> {
  requirePythonModule('grpc', 'python3-grpcio');
  const dir = tmpDir('udsctl-gr-');
  const sock = join(dir, 'grpc.sock');
  const extra = Object.entries(opts.services ?? {}).map(([k, v]) => `${k}=${v}`);
  const peer = spawnChild(DEBIAN_PYTHON, [join(FIXTURES, 'grpc-health-server.py'), sock, opts.mode ?? 'serving', ...extra], { timeoutMs: 300_000 });
  stopAtEnd(peer);
  const log = () => `${peer.stdout()}${peer.stderr()}`;
  await waitReady(peer, 'the gRPC server', () => /listening/.test(peer.stdout()), log);
  return { sock, dir, pid: peer.child.pid!, log };
}

/** The gRPC health client (test/fixtures/grpc-health-client.py): its one-word verdict and exit status. */
export function grpcHealthClient(sock: string, service?: string): { verdict: string; code: number | null } {
  const r = spawnSync(DEBIAN_PYTHON, [join(FIXTURES, 'grpc-health-client.py'), sock, ...(service === undefined ? [] : [service])], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { verdict: r.stdout.trim(), code: r.status };
}

// ---------------------------------------------------------------------------
// WSGI servers: gunicorn, uwsgi

/** The WSGI app both serve: / answers 200 "hello-wsgi\n", /boom 503. */
const WSGI_APP = `def application(environ, start_response):
    boom = environ.get('PATH_INFO') == '/boom'
    body = b'boom\\n' if boom else b'hello-wsgi\\n'
    start_response('503 Service Unavailable' if boom else '200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
`;

/** gunicorn (one sync worker) serving the WSGI app on DIR/gunicorn.sock. */
export async function startGunicorn(): Promise<Daemon> {
  requirePeers('gunicorn');
  const dir = tmpDir('udsctl-gu-');
  writeFileSync(join(dir, 'app.py'), WSGI_APP);
  const sock = join(dir, 'gunicorn.sock');
  const peer = spawnChild('gunicorn', ['--bind', `unix:${sock}`, '--chdir', dir, '--workers', '1', '--worker-tmp-dir', dir, 'app:application'], {
    timeoutMs: 300_000,
  });
  stopAtEnd(peer);
  await waitReady(peer, 'gunicorn', () => existsSync(sock) && /Booting worker/.test(peer.stderr()), peer.stderr);
  return { sock, dir, pid: peer.child.pid!, log: peer.stderr };
}

/**
 * uwsgi (python3 plugin, one process) serving the WSGI app on DIR/uwsgi.sock:
 * the binary uwsgi protocol (--socket), or HTTP with `http: true` (--http-socket).
 */
export async function startUwsgi(opts: { http?: boolean } = {}): Promise<Daemon> {
  requirePeers('uwsgi');
  const dir = tmpDir('udsctl-uw-');
  writeFileSync(join(dir, 'app.py'), WSGI_APP);
  const sock = join(dir, 'uwsgi.sock');
  const peer = spawnChild(
    'uwsgi',
    ['--plugin', 'python3', opts.http ? '--http-socket' : '--socket', sock, '--wsgi-file', join(dir, 'app.py'), '--need-app', '--die-on-term', '--processes', '1'],
    { timeoutMs: 300_000, cwd: dir },
  );
  stopAtEnd(peer);
  const log = () => `${peer.stdout()}${peer.stderr()}`;
  await waitReady(peer, 'uwsgi', () => existsSync(sock) && /spawned uWSGI worker/.test(log()), log);
  return { sock, dir, pid: peer.child.pid!, log };
}

// ---------------------------------------------------------------------------
// memcached, haproxy, supervisord

/** memcached on DIR/memcached.sock (as root it needs -u; root keeps the socket ours). */
export async function startMemcached(): Promise<Daemon> {
  requirePeers('memcached');
  const dir = tmpDir('udsctl-mc-');
  const sock = join(dir, 'memcached.sock');
  const peer = spawnChild('memcached', ['-s', sock, ...(IS_ROOT ? ['-u', 'root'] : [])], { timeoutMs: 300_000 });
  stopAtEnd(peer);
  const log = () => `${peer.stdout()}${peer.stderr()}`;
  await waitReady(peer, 'memcached', () => existsSync(sock), log);
  return { sock, dir, pid: peer.child.pid!, log };
}

/**
 * haproxy in the foreground (-db): its admin stats socket on DIR/haproxy.sock
 * (`sock`), and an HTTP frontend on DIR/frontend.sock answering 200 "ok".
 */
export async function startHaproxy(): Promise<Daemon & { frontend: string }> {
  requirePeers('haproxy');
  const dir = tmpDir('udsctl-hp-');
  const sock = join(dir, 'haproxy.sock');
  const frontend = join(dir, 'frontend.sock');
  const conf = join(dir, 'haproxy.cfg');
  writeFileSync(
    conf,
    `global
  stats socket ${sock} mode 600 level admin
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
frontend fe
  bind unix@${frontend}
  http-request return status 200 content-type text/plain string ok
`,
  );
  const peer = spawnChild('haproxy', ['-db', '-f', conf], { timeoutMs: 300_000 });
  stopAtEnd(peer);
  const log = () => `${peer.stdout()}${peer.stderr()}`;
  await waitReady(peer, 'haproxy', () => existsSync(sock) && existsSync(frontend), log);
  return { sock, dir, pid: peer.child.pid!, log, frontend };
}

/** supervisord in the foreground with its unix_http_server (XML-RPC over HTTP) on DIR/supervisor.sock. */
export async function startSupervisord(): Promise<Daemon & { conf: string }> {
  requirePeers('supervisord');
  const dir = tmpDir('udsctl-sv-');
  const sock = join(dir, 'supervisor.sock');
  const conf = join(dir, 'supervisord.conf');
  const logFile = join(dir, 'supervisord.log');
  writeFileSync(
    conf,
    `[unix_http_server]
file=${sock}
[supervisord]
nodaemon=true
logfile=${logFile}
pidfile=${join(dir, 'supervisord.pid')}
childlogdir=${dir}
${IS_ROOT ? 'user=root\n' : ''}[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://${sock}
`,
  );
  const peer = spawnChild('supervisord', ['-n', '-c', conf], { timeoutMs: 300_000, cwd: dir });
  stopAtEnd(peer);
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '') + peer.stderr();
  await waitReady(peer, 'supervisord', () => existsSync(sock) && /supervisord started/.test(log()), log);
  return { sock, dir, pid: peer.child.pid!, log, conf };
}
