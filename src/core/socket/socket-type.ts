/**
 * The three Unix socket types and how a client tells which one a path is:
 * the kernel's sock_diag lists every bound socket with its type (Linux);
 * elsewhere, or when no row matches (another network namespace),
 * the caller tries stream, then seqpacket, then dgram, moving on only on
 * EPROTOTYPE (the kernel's "wrong type for this socket").
 */
import path from 'node:path';
import { UdsError } from '../errors.js';
import type { Target } from './target.js';
import { type UnixSocketEntry, readProcNetUnix, readServerSockets } from './server-sockets.js';

export const SOCKET_TYPES = ['stream', 'seqpacket', 'dgram'] as const;
export type SocketType = (typeof SOCKET_TYPES)[number];

/** The SOCK_* numbers of Linux (and the BSDs): the Type column of /proc/net/unix. */
export const SOCK_NUMBER: Readonly<Record<SocketType, number>> = { stream: 1, dgram: 2, seqpacket: 5 };

/** How the type was learnt: given (--type), read from the kernel's socket table (`proc`: sock_diag), or found by trying connect(2) (EPROTOTYPE). */
export type SocketTypeSource = 'option' | 'proc' | 'connect' | 'tcp';

/** `--type` text to a type; BAD_OPTION otherwise. */
export function parseSocketType(text: unknown, what = '--type'): SocketType {
  if (typeof text === 'string' && (SOCKET_TYPES as readonly string[]).includes(text)) return text as SocketType;
  throw new UdsError('BAD_OPTION', `${what} must be one of ${SOCKET_TYPES.join(', ')} (got ${JSON.stringify(String(text))})`);
}

const BY_NUMBER = new Map<number, SocketType>(Object.entries(SOCK_NUMBER).map(([k, v]) => [v, k as SocketType]));

/**
 * The type of the socket bound to a Unix path or abstract name, from the
 * kernel's sock_diag (names as bytes); null when it cannot be told (no
 * sock_diag, no row: another namespace, or rows of different types by one
 * name), and the caller finds it by connecting. Never from the text of
 * /proc/net/unix, where any user can bind an abstract name holding a newline
 * and a forged row claiming another type for a path: a socket served from
 * another network namespace then failed probe with TYPE_MISMATCH.
 * `file`: parse that /proc/net/unix text instead (library callers, tests).
 * Matches the name the server bound: absolute, or relative to its directory
 * (a relative row matches when the absolute path ends with it).
 */
export async function socketTypeFromProc(t: Target, file?: string): Promise<SocketType | null> {
  if (t.kind === 'tcp') return null;
  return typeOfRows(t, file === undefined ? readServerSockets() : await readProcNetUnix(file));
}

/** The type /proc/net/unix's text gives: a hint only (see socketTypeCandidates), its rows forgeable. */
async function socketTypeHint(t: Target): Promise<SocketType | null> {
  if (t.kind === 'tcp') return null;
  return typeOfRows(t, await readProcNetUnix('/proc/net/unix'));
}

function typeOfRows(t: Target, entries: (UnixSocketEntry & { name?: Uint8Array })[] | null): SocketType | null {
  if (!entries || t.kind === 'tcp') return null;
  let want: (e: UnixSocketEntry & { name?: Uint8Array }) => boolean;
  if (t.kind === 'abstract') {
    want = (e) => (e.name ? e.path.startsWith('@') && t.name.equals(e.name) : e.path === t.display);
  } else {
    const abs = path.resolve(t.path);
    want = ({ path: p }) => !p.startsWith('@') && p !== '' && (p === t.path || p === abs || (!p.startsWith('/') && abs.endsWith('/' + path.normalize(p))));
  }
  // A stream or seqpacket server's row is its listening socket; a dgram server's is just bound.
  const types = new Set<SocketType>();
  for (const e of entries) {
    if (!want(e)) continue;
    const type = BY_NUMBER.get(e.type);
    if (!type) continue;
    if (type === 'dgram' || e.listening) types.add(type);
  }
  return types.size === 1 ? [...types][0] : null;
}

/**
 * The one resolution of a target's type for send's clients (exchange,
 * session): the types to try in order and how the first was learnt. --type
 * given: that one; /proc/net/unix lists it: that one first, then the others;
 * else stream, seqpacket, dgram in turn, the caller moving on only when
 * connect(2) answers EPROTOTYPE (WRONG_TYPE), which the kernel says before any
 * connection is made. The text is a hint, never a verdict: any user can forge
 * a row there (an abstract name holding a newline), and a forged type costs
 * one refused connect instead of a false TYPE_MISMATCH; reading sock_diag
 * instead would load the FFI at every send's start.
 */
export async function socketTypeCandidates(t: Target, forced?: SocketType): Promise<{ types: readonly SocketType[]; source: SocketTypeSource }> {
  if (t.kind === 'tcp') return { types: ['stream'], source: 'tcp' };
  if (forced) return { types: [forced], source: 'option' };
  const hint = await socketTypeHint(t);
  if (hint) return { types: [hint, ...SOCKET_TYPES.filter((x) => x !== hint)], source: 'proc' };
  return { types: SOCKET_TYPES, source: 'connect' };
}
