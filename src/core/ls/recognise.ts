/**
 * Which service a listening socket is, from what can be seen without sending
 * it anything: its path or abstract name and the name of the process holding
 * it. Recognition is data: one table of rules, the first that matches wins.
 *
 * Kept apart on purpose: the service framework (src/core/service/, issue 20)
 * owns the services; when it lands, these rules move into its table (a
 * `byName` recogniser per service) and `ls` asks it instead.
 */
import path from 'node:path';

export interface NameRecognition {
  /** Service id, as probe's service names spell them: http, fastcgi, postgresql, mysql, redis, ... */
  service: string;
  /** What matched: `path .s.PGSQL.5432`, `process php-fpm8.2`, `$SSH_AUTH_SOCK`. */
  why: string;
}

interface Rule {
  service: string;
  /** Matched against the socket file's base name (or the abstract name). */
  base?: RegExp;
  /** Matched against the whole path. */
  full?: RegExp;
  /** Matched against the listening process's name (/proc/PID/comm). */
  process?: RegExp;
}

/** By name first (it says what the socket is), then by process (a process may serve several). */
export const NAME_RULES: readonly Rule[] = [
  { service: 'postgresql', base: /^\.s\.PGSQL\.\d+$/ },
  { service: 'mysql', base: /^(mysqld?|mariadb)\.sock$/ },
  { service: 'docker', base: /^docker\.sock$/ },
  { service: 'containerd', base: /^containerd\.sock$/ },
  { service: 'fastcgi', base: /php.*fpm.*\.sock$|fpm.*\.sock$/i },
  { service: 'dbus', base: /^(system_bus_socket|bus)$/ },
  { service: 'dbus', full: /^\/(var\/)?run\/dbus\// },
  { service: 'dbus', base: /^dbus-[A-Za-z0-9]+$/ },
  { service: 'redis', base: /^redis(-server)?(\.sock)?$|redis.*\.sock$/ },
  { service: 'memcached', base: /^memcached?\.sock$/ },
  { service: 'ssh-agent', full: /\/ssh-[A-Za-z0-9]+\/agent\.\d+$|\/openssh_agent$|\/gnupg\/S\.gpg-agent\.ssh$/ },
  { service: 'gpg-agent', base: /^S\.gpg-agent(\.extra|\.browser)?$/ },
  { service: 'journald', full: /^\/run\/systemd\/journal\/(socket|stdout|dev-log)$/ },
  { service: 'syslog', full: /^\/dev\/log$/ },
  { service: 'systemd', full: /^\/run\/systemd\/(private|notify|userdb\/.*|io\.systemd\..*)$/ },
  { service: 'uwsgi', base: /uwsgi.*\.sock$/ },
  { service: 'gunicorn', base: /gunicorn.*\.sock$/ },
  { service: 'supervisor', base: /^supervisor\.sock$/ },
  { service: 'nginx', base: /nginx.*\.sock$/ },
  { service: 'fastcgi', process: /^php-fpm/ },
  { service: 'postgresql', process: /^postgres$/ },
  { service: 'mysql', process: /^(mysqld|mariadbd)$/ },
  { service: 'redis', process: /^redis-server$/ },
  { service: 'memcached', process: /^memcached$/ },
  { service: 'docker', process: /^dockerd$/ },
  { service: 'dbus', process: /^dbus-(daemon|broker)/ },
  { service: 'ssh-agent', process: /^ssh-agent$/ },
  { service: 'http', process: /^(nginx|haproxy|caddy|apache2|httpd)$/ },
  { service: 'uwsgi', process: /^uwsgi$/ },
  { service: 'gunicorn', process: /^gunicorn/ },
  { service: 'supervisor', process: /^supervisord$/ },
  { service: 'udsctl', process: /^udsctl$/ },
];

/**
 * The service of a socket by its name (a path, or `@name`), the process
 * holding it (null when not visible), and $SSH_AUTH_SOCK; null when nothing matches.
 */
export function recogniseByName(name: string, processName: string | null, env: NodeJS.ProcessEnv = process.env): NameRecognition | null {
  if (env.SSH_AUTH_SOCK && name === env.SSH_AUTH_SOCK) return { service: 'ssh-agent', why: '$SSH_AUTH_SOCK' };
  const base = path.basename(name.startsWith('@') ? name.slice(1) : name);
  for (const r of NAME_RULES) {
    if (r.base && r.base.test(base)) return { service: r.service, why: `name ${base}` };
    if (r.full && !name.startsWith('@') && r.full.test(name)) return { service: r.service, why: `path ${name}` };
    if (r.process && processName !== null && r.process.test(processName)) return { service: r.service, why: `process ${processName}` };
  }
  return null;
}

/** Well-known TCP ports on loopback: a guess, said as such (`port 5432`). */
const PORTS: ReadonlyMap<number, string> = new Map([
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

/** The service of a TCP listener by its process, then its port. */
export function recogniseTcp(port: number, processName: string | null): NameRecognition | null {
  const byProcess = processName === null ? null : recogniseByName('', processName);
  if (byProcess) return byProcess;
  const s = PORTS.get(port);
  return s ? { service: s, why: `port ${port}` } : null;
}
