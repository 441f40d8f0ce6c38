// The tap's relay against the relays people already run, each in front of the
// same Go one-shot server, under the same `udsctl bench -m oneshot`:
//
//   tap-vs-haproxy  udsctl serve -q --upstream (the epoll relay, 1 thread) vs
//                   haproxy in TCP mode (nbthread 1), unix@ in and out     >= 1x req/s
//   tap-vs-nginx    the same vs nginx's stream proxy (1 worker, the
//                   libnginx-mod-stream module)                            >= 1x req/s
//
// These say what the tap-oneshot row's 0.7x target asks of a relay on this
// machine: a relay is a second connection for every connection (accept,
// socket, connect, two reads, two sends, two closes), and on two cores it
// shares them with the bench and the server. A section whose relay is not
// installed is skipped with the reason (apt-get install haproxy
// libnginx-mod-stream; perf only, not needed by the tests).

import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startPeerServer } from '../build.mjs';

/** A command in PATH or the sbin folders, or null. */
function findTool(cmd) {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin']) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return null;
}

const NGINX_STREAM = ['/usr/lib/nginx/modules/ngx_stream_module.so', '/usr/share/nginx/modules/ngx_stream_module.so'];

/** haproxy in one thread, TCP mode, from `sock` to `up`. */
async function startHaproxy(bin, sock, up) {
  const conf = `${sock}.cfg`;
  await writeFile(
    conf,
    ['global', '  nbthread 1', '  maxconn 4096', 'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 30s', '  timeout server 30s',
      'frontend f', `  bind unix@${sock}`, '  default_backend b', 'backend b', `  server s1 unix@${up}`, ''].join('\n'),
  );
  return startPeerServer(bin, ['-db', '-f', conf], sock);
}

/** nginx's stream proxy in one process (master_process off), from `sock` to `up`. */
async function startNginxStream(bin, module, sock, up) {
  const dir = `${sock}.d`;
  await mkdir(dir, { recursive: true });
  const conf = join(dir, 'nginx.conf');
  await writeFile(
    conf,
    `load_module ${module};
worker_processes 1;
events { worker_connections 4096; }
stream { server { listen unix:${sock} backlog=4096; proxy_pass unix:${up}; } }
`,
  );
  return startPeerServer(bin, ['-e', 'stderr', '-p', dir, '-c', conf, '-g', `daemon off; master_process off; pid ${dir}/nginx.pid; error_log stderr;`], sock);
}

/** Start the Go server at `${sock}.up` and a relay (start(sock, up)) in front of it; stop() stops both. */
async function behindRelay(goServer, sock, start) {
  const up = `${sock}.up`;
  const go = await startPeerServer(goServer, ['-path', up], up);
  try {
    const relay = await start(sock, up);
    return {
      async stop() {
        await relay.stop();
        return go.stop();
      },
    };
  } catch (err) {
    await go.stop();
    throw err;
  }
}

export function relaySections({ headToHead, udsctlBench, fromU, ms, udsctl }) {
  const section = (id, name, find, start) => ({
    id,
    async run(o, peers) {
      if (!peers.goServer) return { id, skipped: 'no Go toolchain' };
      const found = find(); // what start() needs, or why the section is skipped
      if (typeof found === 'string') return { id, skipped: found };
      const c = o.connections;
      const measure = async (sock) =>
        fromU(await udsctlBench(['-m', 'oneshot', '-c', String(c), '--workers', String(o.threads), '-w', o.serveWarmup, '-d', o.duration, sock], ms(o.duration) + ms(o.serveWarmup)));
      return headToHead(o, {
        id,
        title: `udsctl bench through the tap (serve -q --upstream: the epoll relay, 1 thread) vs through ${name}: Go server, oneshot, ${c} in flight`,
        serverFor: (side, sock) => side.start(sock),
        subject: {
          name: 'the tap',
          start: (sock) => behindRelay(peers.goServer, sock, (s, up) => startPeerServer(process.execPath, [udsctl, 'serve', '-q', '--backlog', '4096', '--upstream', up, s], s)),
          measure,
        },
        reference: { name, start: (sock) => behindRelay(peers.goServer, sock, (s, up) => start(found, s, up)), measure },
        targets: { rps: { min: 1 } },
      });
    },
  });
  return [
    section(
      'tap-vs-haproxy',
      'haproxy',
      () => {
        const bin = findTool('haproxy');
        return bin ? { bin } : 'haproxy not installed (apt-get install haproxy)';
      },
      (f, s, up) => startHaproxy(f.bin, s, up),
    ),
    section(
      'tap-vs-nginx',
      "nginx's stream proxy",
      () => {
        const bin = findTool('nginx');
        const mod = NGINX_STREAM.find((p) => existsSync(p));
        if (!bin || !mod) return 'nginx or its stream module not installed (apt-get install nginx-light libnginx-mod-stream)';
        return { bin, mod };
      },
      (f, s, up) => startNginxStream(f.bin, f.mod, s, up),
    ),
  ];
}
