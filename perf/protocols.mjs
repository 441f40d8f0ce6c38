// Protocol sections of `npm run perf` (issue 11), on real servers over Unix sockets:
//
//   bench-http  udsctl bench --http vs autocannon -S (its Unix-socket option), both
//               keep-alive on nginx, same connections; target >= 1.5x req/s, lower p99
//   bench-resp  udsctl bench --resp PING vs redis-benchmark -s SOCK -t ping_inline,
//               same clients, on redis-server                    target >= 1.2x req/s
//
// A section whose server (nginx, redis-server) or reference client is missing is
// skipped with the reason. The servers run in a temp folder and are stopped after
// each measurement (startPeerServer kills them with this process in any case).

import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { startPeerServer } from './build.mjs';

const require = createRequire(import.meta.url);

/** A command on PATH or in the sbin folders (nginx is in /usr/sbin), or null. */
function findTool(cmd) {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin']) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return null;
}

/** nginx in one process (master_process off), keep-alive without a request limit, `/` answering from the config. */
async function startNginx(nginx, sock) {
  const dir = `${sock}.d`;
  await mkdir(dir, { recursive: true });
  const conf = join(dir, 'nginx.conf');
  await writeFile(
    conf,
    `worker_processes 1;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  keepalive_requests 1000000;
  server { listen unix:${sock}; default_type text/plain; location / { return 200 "hello\\n"; } }
}
`,
  );
  return startPeerServer(nginx, ['-e', 'stderr', '-p', dir, '-c', conf, '-g', `daemon off; master_process off; pid ${dir}/nginx.pid; error_log stderr;`], sock);
}

const seconds = (d) => (d.endsWith('ms') ? Number(d.slice(0, -2)) / 1000 : Number(d.slice(0, -1)));

export function protocolSections({ headToHead, udsctlBench, fromU, runChild, ms, log }) {
  return [
    {
      id: 'bench-http',
      async run(o) {
        const nginx = findTool('nginx');
        if (!nginx) return { id: this.id, skipped: 'nginx not installed (apt-get install nginx-light)' };
        let cannon;
        try {
          cannon = join(dirname(require.resolve('autocannon/package.json')), 'autocannon.js');
        } catch {
          return { id: this.id, skipped: 'autocannon not installed (npm ci: a devDependency)' };
        }
        const c = o.connections;
        return headToHead(o, {
          id: this.id,
          title: `udsctl bench --http vs autocannon -S: nginx keep-alive, ${c} connections, ${o.threads} udsctl worker(s), autocannon in one process`,
          serverFor: (_side, sock) => startNginx(nginx, sock),
          subject: {
            name: 'udsctl bench --http',
            measure: async (sock) =>
              fromU(await udsctlBench(['--http', '/', '-m', 'persistent', '-c', String(c), '--workers', String(o.threads), '-d', o.duration, sock], ms(o.duration))),
          },
          reference: {
            name: 'autocannon',
            measure: async (sock) => {
              const r = await runChild(process.execPath, [cannon, '-S', sock, '-c', String(c), '-d', String(seconds(o.duration)), '-j', 'http://localhost/'], ms(o.duration) + 60_000);
              const j = JSON.parse(r.stdout);
              log(`  autocannon: ${j.requests.average} req/s average, ${j.non2xx} non-2xx, ${j.errors} errors`);
              // autocannon's latencies are in ms; its requests/s is the per-second average.
              return { rps: j.requests.average, p50: j.latency.p50 * 1000, p99: j.latency.p99 * 1000, errors: j.errors + j.non2xx + j.timeouts };
            },
          },
          targets: { rps: { min: 1.5 }, p50: null, p99: { max: 1 } },
        });
      },
    },
    {
      id: 'bench-resp',
      async run(o) {
        const redis = findTool('redis-server');
        const rb = findTool('redis-benchmark');
        if (!redis || !rb) return { id: this.id, skipped: 'redis-server / redis-benchmark not installed (apt-get install redis-server)' };
        const c = o.connections;
        return headToHead(o, {
          id: this.id,
          title: `udsctl bench --resp PING vs redis-benchmark -t ping_inline: redis-server, ${c} clients each, ${o.threads} udsctl worker(s)`,
          serverFor: (_side, sock) => startPeerServer(redis, ['--unixsocket', sock, '--port', '0', '--save', '', '--appendonly', 'no', '--dir', dirname(sock)], sock),
          subject: {
            name: 'udsctl bench --resp',
            measure: async (sock) =>
              fromU(await udsctlBench(['--resp', 'PING', '-m', 'persistent', '-c', String(c), '--workers', String(o.threads), '-d', o.duration, sock], ms(o.duration))),
          },
          reference: {
            name: 'redis-benchmark',
            measure: async (sock) => {
              // redis-benchmark runs a request count: about the duration at ~60k req/s.
              const n = Math.max(10_000, Math.round(seconds(o.duration) * 60_000));
              const r = await runChild(rb, ['-s', sock, '-t', 'ping_inline', '-c', String(c), '-n', String(n), '--csv'], ms(o.duration) + 120_000);
              const row = r.stdout.trim().split('\n').find((l) => l.startsWith('"PING_INLINE"'));
              if (!row) throw new Error(`redis-benchmark: no PING_INLINE row\n${r.stdout}\n${r.stderr}`);
              const f = row.split(',').map((x) => Number(x.replace(/"/g, '')));
              // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
              return { rps: f[1], p50: f[4] * 1000, p99: f[6] * 1000, errors: 0 };
            },
          },
          targets: { rps: { min: 1.2 }, p50: null },
        });
      },
    },
  ];
}
