/**
 * The services udsctl knows, in one table: probe, send, bench and ls look a
 * service up here (by name, or through recogniseWithoutIo and the banner and
 * reply recognisers) and then call its hooks. A new service is one module and one line in SERVICES
 * (see types.ts, "HOW TO ADD A SERVICE").
 */
import path from 'node:path';
import { dbus } from './dbus.js';
import { fastcgi } from './fastcgi.js';
import { grpc } from './grpc.js';
import { haproxy } from './haproxy.js';
import { http } from './http.js';
import { line } from './line.js';
import { listenOnly } from './listen-only.js';
import { memcached } from './memcached.js';
import { mysql } from './mysql.js';
import { postgresql } from './postgresql.js';
import { redis } from './redis.js';
import { sshAgent } from './ssh-agent.js';
import { uwsgi } from './uwsgi.js';
import { KNOWN_PORTS, KNOWN_SOCKETS, type KnownSocket } from './known-sockets.js';
import type { ProcessFacts, Recognition, Service } from './types.js';
import { UdsError } from '../errors.js';
import type { SocketType } from '../socket/socket-type.js';

export type { CheckContext, Conversation, HealthCheck, ProcessFacts, RecognisedBy, Recognisers, Recognition, Service, ServiceArg, ServiceFinding, ServiceReply, Verdict } from './types.js';
export { RECOGNISED_BY } from './types.js';
export { KNOWN_PORTS, KNOWN_SOCKETS, type KnownSocket } from './known-sockets.js';

/**
 * Every service. The order is the precedence when two services' recognisers
 * match the same evidence (the more specific first). `line` is the fallback
 * and recognises nothing itself.
 */
export const SERVICES: readonly Service[] = [fastcgi, uwsgi, redis, memcached, haproxy, postgresql, mysql, sshAgent, dbus, grpc, http, listenOnly, line];

const BY_NAME = new Map(SERVICES.map((s) => [s.name, s]));

/** A service by its `--as` name, or undefined. */
export function serviceByName(name: string): Service | undefined {
  return BY_NAME.get(name);
}

/** The names `--as` takes. */
export const SERVICE_NAMES: readonly string[] = SERVICES.map((s) => s.name);

/** `--as NAME[:ARG]`, parsed: the service, and the argument for its check when one was given. */
export interface ServiceSpec {
  service: Service;
  arg?: string;
}

/**
 * Parse `--as NAME[:ARG]` (`grpc`, `grpc:my.Service`, `postgresql:appuser`): the
 * name before the first colon, the argument after it (it may hold colons).
 * Throws UdsError BAD_OPTION, one line, for an unknown name (listing the names),
 * an ARG for a service that takes none, or an empty ARG.
 */
export function parseServiceSpec(value: string): ServiceSpec {
  const text = String(value);
  const colon = text.indexOf(':');
  const name = colon < 0 ? text : text.slice(0, colon);
  const service = BY_NAME.get(name);
  if (!service) throw new UdsError('BAD_OPTION', `--as must be NAME or NAME:ARG, NAME one of ${SERVICE_NAMES.join(', ')} (got ${JSON.stringify(text)})`);
  if (colon < 0) return { service };
  const arg = text.slice(colon + 1);
  if (!service.arg) {
    const takers = SERVICES.filter((s) => s.arg).map((s) => s.name);
    throw new UdsError('BAD_OPTION', `--as ${name} takes no argument (got ${JSON.stringify(text)}); only ${takers.join(', ')} take :ARG`);
  }
  if (arg === '') throw new UdsError('BAD_OPTION', `--as ${name}: needs ${service.arg.name} after the colon (${name}:${service.arg.name}), or no colon`);
  return { service, arg };
}

/** `--as NAME[:ARG]` as written back (evidence, advice). */
export const formatServiceSpec = (s: ServiceSpec): string => (s.arg === undefined ? s.service.name : `${s.service.name}:${s.arg}`);

/** The words of a process a `process` recogniser is matched against: comm, argv[0] and argv[1] basenames, the module after -m, exe basename. */
export function processWords(p: ProcessFacts): string[] {
  const argv = p.cmdline.split(' ').filter((w) => w.length > 0);
  // An interpreter's script (python3 /usr/bin/gunicorn) or module (python3 -m gunicorn).
  const m = argv.indexOf('-m');
  const words = [p.name, argv[0], argv[1], m > 0 ? argv[m + 1] : undefined, p.exe].filter((w): w is string => typeof w === 'string' && w.length > 0);
  return [...new Set(words.map((w, i) => (i === 0 ? w : path.basename(w))))];
}

/** What is known without any I/O to the server. */
export interface StaticFacts {
  /** The processes holding the listening socket (from /proc, sock_diag, or SO_PEERCRED). */
  processes?: readonly ProcessFacts[];
  /** The socket's absolute path (Unix sockets), or `@name` for an abstract one. */
  path?: string;
  /** A TCP listener's port (udsctl ls --tcp): a guess from KNOWN_PORTS, after everything else. */
  port?: number;
  /** The socket's type, when known. */
  socketType?: SocketType | null;
  /** The environment (ssh-agent's $SSH_AUTH_SOCK); default none. */
  env?: Readonly<Record<string, string | undefined>>;
}

const fits = (s: Service, type: SocketType | null | undefined): boolean => !type || s.socketTypes.includes(type);

/** The service a known socket is checked in (line: none of its own). */
const speaker = (k: KnownSocket): Service => (k.speaks ? (BY_NAME.get(k.speaks) ?? line) : line);

/** Every path recogniser in one, tested first: most sockets match none (ls asks thousands). Matches all when one has flags. */
const PATH_RES = [...KNOWN_SOCKETS.map((k) => k.path), ...SERVICES.map((s) => s.recognise.path)].filter((r): r is RegExp => r !== undefined);
const PATH_ANY = PATH_RES.some((r) => r.flags !== '') ? /(?:)/ : new RegExp(PATH_RES.map((r) => `(?:${r.source})`).join('|'));

interface ProcessMatch {
  service: Service;
  known?: KnownSocket;
  /** The word that matched a `process` recogniser; undefined: the command line matched. */
  word?: string;
}

/**
 * What a process alone says, memoised: ls asks it once a socket, and one
 * process often holds thousands (the regexes cost ~30 us a socket otherwise).
 * Keyed by what the match reads; cleared when it grows past MATCH_CACHE_MAX.
 */
const matchCache = new Map<string, ProcessMatch | null>();
const MATCH_CACHE_MAX = 4096;

function processMatch(p: ProcessFacts, type: SocketType | null | undefined): ProcessMatch | null {
  const key = `${type ?? ''}\0${p.name}\0${p.exe ?? ''}\0${p.cmdline}`;
  const hit = matchCache.get(key);
  if (hit !== undefined) return hit;
  const m = matchProcess(p, type);
  if (matchCache.size >= MATCH_CACHE_MAX) matchCache.clear();
  matchCache.set(key, m);
  return m;
}

function matchProcess(p: ProcessFacts, type: SocketType | null | undefined): ProcessMatch | null {
  for (const s of SERVICES) {
    if (s.recognise.cmdline && fits(s, type) && s.recognise.cmdline.test(p.cmdline)) return { service: s };
  }
  const words = processWords(p);
  for (const k of KNOWN_SOCKETS) {
    const re = k.process;
    if (!re || !fits(speaker(k), type)) continue;
    const w = words.find((x) => re.test(x));
    if (w !== undefined) return { service: speaker(k), known: k, word: w };
  }
  for (const s of SERVICES) {
    const re = s.recognise.process;
    if (!re || !fits(s, type)) continue;
    const w = words.find((x) => re.test(x));
    if (w !== undefined) return { service: s, word: w };
  }
  return null;
}

/**
 * Recognise a service from facts alone, no I/O (for `udsctl ls`, and probe's
 * first steps): the listening process (command line, then names), then
 * well-known paths and environment variables, then the socket type, then (TCP)
 * the port. At each step the rows of KNOWN_SOCKETS come before the services'
 * own recognisers: they name the socket more closely (Docker's API, not just
 * HTTP). Null when nothing matched. Pure: the same facts give the same answer.
 */
export function recogniseWithoutIo(f: StaticFacts): Recognition | null {
  // systemd (pid 1) holds the sockets it activates services on: the service is whoever else holds it.
  for (const p of f.processes ?? []) {
    if (p.name === 'systemd' || p.pid === 1) continue;
    const m = processMatch(p, f.socketType);
    if (!m) continue;
    const who = `pid ${p.pid ?? '?'} (${p.cmdline || p.name})`;
    return { service: m.service, ...(m.known ? { known: m.known } : {}), by: 'process', evidence: m.word === undefined ? `${who}: command line` : `${who} is ${m.word}` };
  }
  if (f.path !== undefined) {
    const abstract = f.path.startsWith('@');
    for (const s of SERVICES) {
      const v = s.recognise.env;
      const at = v ? f.env?.[v] : undefined;
      if (at && !abstract && fits(s, f.socketType) && path.resolve(at) === path.resolve(f.path)) return { service: s, by: 'path', evidence: `the path is $${v}` };
    }
    for (const k of PATH_ANY.test(f.path) ? KNOWN_SOCKETS : []) {
      if (k.path && fits(speaker(k), f.socketType) && k.path.test(f.path)) return { service: speaker(k), known: k, by: 'path', evidence: `the path matches ${k.path.source}` };
    }
    for (const s of PATH_ANY.test(f.path) ? SERVICES : []) {
      if (s.recognise.path && fits(s, f.socketType) && s.recognise.path.test(f.path)) return { service: s, by: 'path', evidence: `the path matches ${s.recognise.path.source}` };
    }
  }
  if (f.socketType) {
    const s = SERVICES.find((x) => x.recognise.socketType === f.socketType);
    if (s) return { service: s, by: 'socket-type', evidence: `a ${f.socketType} socket` };
  }
  if (f.port !== undefined) {
    const name = KNOWN_PORTS.get(f.port);
    const s = name === undefined ? undefined : BY_NAME.get(name);
    if (name !== undefined) return { service: s ?? line, ...(s ? {} : { known: { name, title: name } }), by: 'port', evidence: `port ${f.port} (a guess: its usual port)` };
  }
  return null;
}

/** What a recognised socket is called (`udsctl ls`'s SERVICE): the known socket's name, else the service's. */
export function recognisedName(r: Recognition): string {
  return r.known?.name ?? r.service.name;
}

/** The service whose banner recogniser matches bytes the server sent before any request. */
export function recogniseBanner(first: Buffer): Recognition | null {
  const s = SERVICES.find((x) => x.recognise.banner?.(first));
  return s ? { service: s, by: 'banner', evidence: 'the greeting it sends on connect' } : null;
}

/** The service whose reply recogniser matches the server's answer to udsctl's default line. */
export function recogniseReply(reply: Buffer): Recognition | null {
  const s = SERVICES.find((x) => x.recognise.reply?.(reply));
  return s ? { service: s, by: 'reply', evidence: "its answer to udsctl's line" } : null;
}
