/**
 * Sockets udsctl recognises but checks in another service's protocol, or in
 * none of its own: Docker's API is HTTP, containerd's is gRPC, journald and
 * syslog only listen, gpg-agent speaks Assuan (no check: probe's line
 * contract). Recognition is data, so they are rows here, not modules:
 * recogniseWithoutIo (index.ts) consults them before the services' own
 * recognisers (a row is the more specific name), and the answer carries both
 * the row (`known`: what the socket is, as `udsctl ls` shows it) and the
 * service that checks it.
 */

export interface KnownSocket {
  /** What the socket is, lower case and stable: `udsctl ls`'s SERVICE column and --json `service`. */
  name: string;
  /** For people. */
  title: string;
  /** The service (a SERVICES name) whose check probes it; none: probe's line contract. */
  speaks?: string;
  /** Matched against the words of the holding process, as a service's `process` (see processWords). */
  process?: RegExp;
  /** Matched against the socket's absolute path, or `@name` for an abstract socket. */
  path?: RegExp;
}

/** Order is precedence, as in SERVICES. */
export const KNOWN_SOCKETS: readonly KnownSocket[] = [
  { name: 'docker', title: 'Docker Engine API', speaks: 'http', process: /^(dockerd|podman)$/, path: /(^|\/)(docker|podman)[^/]*\.sock$/ },
  // containerd.sock serves gRPC (containerd.sock.ttrpc, beside it, does not).
  { name: 'containerd', title: 'containerd', speaks: 'grpc', process: /^containerd$/, path: /\/containerd\.sock$/ },
  { name: 'journald', title: 'systemd-journald', speaks: 'listen-only', process: /^(systemd-journal|systemd-journald)$/, path: /^\/run\/systemd\/journal\/[^/]+$/ },
  { name: 'syslog', title: 'syslog', speaks: 'listen-only', process: /^(rsyslogd|syslog-ng)$/, path: /^\/dev\/log$/ },
  { name: 'systemd', title: 'systemd', speaks: 'listen-only', path: /^\/run\/systemd\/notify$/ },
  // systemd's private bus and its Varlink sockets: no check of their own.
  { name: 'systemd', title: 'systemd', path: /^\/run\/systemd\/(private|userdb\/.*|io\.systemd\..*)$/ },
  // Assuan, not the ssh-agent protocol (S.gpg-agent.ssh is ssh-agent's: ssh-agent.ts).
  { name: 'gpg-agent', title: 'gpg-agent', path: /\/S\.gpg-agent(\.extra|\.browser)?$/ },
  // nginx's own process is plain http (http.ts): only a socket named for it is called nginx.
  { name: 'nginx', title: 'nginx', speaks: 'http', path: /(^|\/)nginx[^/]*\.sock$/ },
  { name: 'gunicorn', title: 'gunicorn', speaks: 'http', process: /^gunicorn$/, path: /(^|\/)gunicorn[^/]*\.sock$/ },
  { name: 'supervisor', title: 'supervisord', speaks: 'http', process: /^supervisord$/, path: /(^|\/)supervisor[^/]*\.sock$/ },
  { name: 'udsctl', title: 'udsctl', process: /^udsctl$/ },
];

/** Well-known TCP ports on loopback (a guess, said as such): the socket, or the service, they usually are. */
export const KNOWN_PORTS: ReadonlyMap<number, string> = new Map([
  [80, 'http'],
  [443, 'https'],
  [8080, 'http'],
  [5432, 'postgresql'],
  [3306, 'mysql'],
  [6379, 'redis'],
  [11211, 'memcached'],
  [9000, 'fastcgi'],
  [22, 'ssh'],
  [25, 'smtp'],
  [53, 'dns'],
  [631, 'ipp'],
]);
