/**
 * The optional peers and the skip notes, shared by the tests
 * (requirements.ts) and the reporter that sums the skips up (skip-summary.ts),
 * which runs in the main process and so imports nothing of vitest's runtime.
 */

/** Optional peers: the command a test runs, and the Debian package that installs it. */
export const OPTIONAL_PEERS = {
  php: 'php-cli',
  socat: 'socat',
  'redis-server': 'redis-server',
  nginx: 'nginx',
  'php-fpm': 'php-fpm',
  python3: 'python3',
  nc: 'netcat-openbsd',
  man: 'man-db',
  zsh: 'zsh',
  fish: 'fish',
  // The tap's tests build a Go server (test/fixtures/go-tap-server.go).
  go: 'golang-go',
  // serve --type dgram logs a datagram's sender (SCM_CREDENTIALS): a real sd_notify sender.
  'systemd-notify': 'systemd',
  // The real services of probe's service checks (test/helpers/services.ts starts them).
  initdb: 'postgresql',
  postgres: 'postgresql',
  pg_isready: 'postgresql-client',
  psql: 'postgresql-client',
  mariadbd: 'mariadb-server',
  'mariadb-install-db': 'mariadb-server',
  mysqladmin: 'mariadb-client',
  'ssh-agent': 'openssh-client',
  'ssh-add': 'openssh-client',
  'ssh-keygen': 'openssh-client',
  'dbus-daemon': 'dbus',
  'dbus-send': 'dbus',
  gunicorn: 'gunicorn',
  uwsgi: 'uwsgi uwsgi-plugin-python3',
  memcached: 'memcached',
  haproxy: 'haproxy',
  supervisord: 'supervisor',
  supervisorctl: 'supervisor',
  // bench's findings against servers that close per response and that never close.
  // probe --format openmetrics is checked by Prometheus's own linter.
  promtool: 'prometheus',
} as const;
export type OptionalPeer = keyof typeof OPTIONAL_PEERS;

/** The prefixes of the skip notes the reporter reads. */
export const PEER_NOTE = 'missing peer: ';
export const ROOT_NOTE = 'needs root: ';
