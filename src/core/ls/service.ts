/**
 * What ls says a socket is, from what it sees without sending anything (the
 * service framework's recogniseWithoutIo over its name, type, holders, TCP
 * port), and what `ls --service NAME` keeps. Shared by the list and --watch.
 */
import type { SocketType } from '../socket/socket-type.js';
import { recognisedName, recogniseWithoutIo } from '../service/index.js';
import type { ProcessFacts } from '../service/types.js';
import type { HolderProcess } from './holders.js';

/** What ls shows of the service framework's recognition (src/core/service: recogniseWithoutIo). */
export interface LsService {
  /** What the socket is (`docker`, `postgresql`, `gpg-agent`): a KNOWN_SOCKETS row's name, else the service's. */
  service: string;
  /** The evidence: `pid 812 (redis-server) is redis-server`, `the path matches ...`, `port 5432 (a guess ...)`. */
  why: string;
  /** The service probe checks it as (`http` for docker); --service matches this name too. */
  checkedAs: string;
}

/** A holder as the recognisers see it, made once a process (one often holds thousands of sockets). */
const facts = new WeakMap<HolderProcess, ProcessFacts>();
function factsOf(p: HolderProcess): ProcessFacts {
  let f = facts.get(p);
  if (!f) facts.set(p, (f = { pid: p.pid, name: p.name ?? '', cmdline: p.cmdline ? p.cmdline.toString() : '' }));
  return f;
}

/** The service at a socket, from what ls sees without sending anything: its name (a path or `@name`), type, holders; TCP: its port. */
export function recogniseEntry(
  name: string,
  type: SocketType | null,
  procs: readonly HolderProcess[],
  env: NodeJS.ProcessEnv,
  port?: number,
): LsService | null {
  const processes = procs.map(factsOf);
  const r = recogniseWithoutIo({ processes, socketType: type, env, ...(port === undefined ? { path: name } : { port }) });
  return r ? { service: recognisedName(r), why: r.evidence, checkedAs: r.service.name } : null;
}

/** ls --service NAME: the socket's name for itself, or the service that checks it (`http` finds docker.sock), never the line fallback. */
export function serviceMatches(s: LsService | null, want: string): boolean {
  return s !== null && (s.service === want || (s.checkedAs === want && want !== 'line'));
}
