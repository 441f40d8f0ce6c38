/**
 * Which serve engine serves what, as data: one row per engine, role (a server
 * that replies, or the tap that relays) and socket type, with the faults and
 * the options it carries out. Engine choice (start.ts chooseEngine), the
 * fault list of `serve --help` and the man page all read this table
 * (test/serve-engines-table.test.ts holds the man page and --help to it).
 * Light on purpose: --help loads it, no engine code comes with it.
 */
import type { SocketType } from '../socket/socket-type.js';
import { FAULTS, type Fault } from './options.js';

export type EngineKind = 'net' | 'epoll' | 'message';
export type ServeRole = 'server' | 'tap';

/** The options an engine may lack (every other option every engine takes). */
export const ENGINE_OPTIONS = ['delay', 'keepAlive', 'read', 'workers', 'tcp'] as const;
export type EngineOption = (typeof ENGINE_OPTIONS)[number];

/** How each option is named to users. */
const OPTION_FLAG: Record<EngineOption, string> = {
  delay: '--delay',
  keepAlive: '--keep-alive',
  read: '--read',
  workers: '--workers',
  tcp: 'TCP',
};

export interface EngineRow {
  engine: EngineKind;
  role: ServeRole;
  type: SocketType;
  faults: readonly Fault[];
  options: readonly EngineOption[];
  /** --workers not given, from the CLI: how many (the library's default is always 1). */
  cliWorkers?: (cores: number) => number;
  /** Why a fault it lacks cannot be, where no other engine has it for this role and type. */
  faultsWhy?: string;
}

const MESSAGE_WHY = 'message sockets have no reset or byte stream';

/** In the order `--engine auto` tries them for a role and type. */
export const ENGINES: readonly EngineRow[] = [
  { engine: 'epoll', role: 'server', type: 'stream', faults: [], options: ['keepAlive', 'read', 'workers'] },
  { engine: 'net', role: 'server', type: 'stream', faults: FAULTS, options: ['delay', 'keepAlive', 'read', 'workers', 'tcp'] },
  { engine: 'message', role: 'server', type: 'seqpacket', faults: [], options: [], faultsWhy: 'it answers each message as it comes' },
  { engine: 'message', role: 'server', type: 'dgram', faults: [], options: [], faultsWhy: 'it logs and answers each datagram as it comes' },
  // The epoll relay: one thread relays about 3x what a net tap process does; a second thread on 2 cores only took cores from the upstream.
  { engine: 'epoll', role: 'tap', type: 'stream', faults: FAULTS, options: ['delay', 'workers'] },
  // The net tap relays on one core a process: from the CLI, by default, the cores, at most 4 (the library's default stays 1:
  // forking copies of a library user's script is theirs to ask for). On the 2-core VM of the perf table 2 processes relayed
  // more than 1 in every round, 4 fewer than 2 (each process needs a core; the upstream server and its clients need theirs).
  { engine: 'net', role: 'tap', type: 'stream', faults: FAULTS, options: ['delay', 'workers', 'tcp'], cliWorkers: (cores) => Math.max(1, Math.min(4, cores)) },
  { engine: 'message', role: 'tap', type: 'seqpacket', faults: ['silent', 'no-newline', 'slow', 'never-close', 'close-without-reply'], options: ['delay'], faultsWhy: MESSAGE_WHY },
  { engine: 'message', role: 'tap', type: 'dgram', faults: ['silent', 'no-newline', 'slow'], options: ['delay'], faultsWhy: MESSAGE_WHY },
];

/** The rows for a role and socket type, in auto's order. */
export function enginesFor(role: ServeRole, type: SocketType): EngineRow[] {
  return ENGINES.filter((r) => r.role === role && r.type === type);
}

/** The faults of a role and type, whichever engine (the message tap's are one engine's). */
export function faultsFor(role: ServeRole, type: SocketType, engine?: EngineKind): readonly Fault[] {
  return enginesFor(role, type).find((r) => engine === undefined || r.engine === engine)?.faults ?? [];
}

/** What a row is checked against: the options given, and whether the target is TCP. */
export interface EngineAsk {
  fault?: Fault;
  delay?: number;
  keepAlive?: boolean;
  read?: string;
  workers?: number | 'auto';
  tcp?: boolean;
}

const label = (r: EngineRow) => `${r.type} ${r.role}`;

/** The options asked for that a row lacks, by name. */
function lacking(r: EngineRow, a: EngineAsk): EngineOption[] {
  const asked: Record<EngineOption, boolean> = {
    delay: a.delay !== undefined && a.delay > 0,
    keepAlive: a.keepAlive === true,
    read: a.read !== undefined && a.read !== 'once',
    workers: typeof a.workers === 'number' && a.workers > 1,
    tcp: a.tcp === true,
  };
  return ENGINE_OPTIONS.filter((k) => asked[k] && !r.options.includes(k));
}

/**
 * Why this row cannot serve what is asked, or null. Where another engine of
 * the same role and type can, the reason names it ("--delay needs the net
 * engine"); else it says what this role and type takes.
 */
export function rowUnsupported(r: EngineRow, a: EngineAsk): string | null {
  const others = enginesFor(r.role, r.type).filter((o) => o !== r);
  if (a.fault !== undefined && !r.faults.includes(a.fault)) {
    const other = others.find((o) => o.faults.includes(a.fault!));
    if (other) return `--fault ${a.fault} needs the ${other.engine} engine`;
    const takes = r.faults.length > 0 ? `a ${label(r)} takes: ${r.faults.join(', ')}` : `a ${label(r)} takes none`;
    return `--fault ${a.fault} is not for a ${label(r)} (${r.faultsWhy ?? MESSAGE_WHY}); ${takes}`;
  }
  for (const k of lacking(r, a)) {
    const other = others.find((o) => o.options.includes(k));
    if (other) return k === 'tcp' ? `TCP targets need the ${other.engine} engine` : `${OPTION_FLAG[k]} needs the ${other.engine} engine`;
    if (k === 'tcp') return `--type ${r.type} is for Unix sockets (a path or @name)`;
    return `${OPTION_FLAG[k]} is not for a ${label(r)}${k === 'workers' ? ' (it runs one loop)' : ''}`;
  }
  return null;
}

/** The header of the table's lines in --help and the man page. */
export const ENGINE_TABLE_HEADER = 'Engines (engine/role/socket type: faults; options not every engine takes):';

/**
 * The table as lines, for `serve --help` and the man page: one per engine,
 * role and type, in auto's order, with its faults and the options only some
 * engines take (padded as a table; tests compare them with runs of spaces as one).
 */
export function engineSupportLines(): string[] {
  return ENGINES.map((r) => {
    const faults = r.faults.length === FAULTS.length ? 'every fault' : r.faults.length === 0 ? 'no fault' : r.faults.join(', ');
    const opts = r.options.map((k) => OPTION_FLAG[k]);
    return `${`${r.engine}/${r.role}/${r.type}`.padEnd(26)}${faults}${opts.length > 0 ? `; ${opts.join(', ')}` : ''}`;
  });
}
