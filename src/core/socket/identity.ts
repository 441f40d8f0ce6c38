/**
 * Who we are (effective uid, gid and groups) and the names of uids and gids
 * (/etc/passwd, /etc/group, read once): what a permission verdict and ls's
 * USER column speak in.
 */
import { readFileSync } from 'node:fs';

/** Who we are, for permission checks. */
export interface Identity {
  uid: number;
  gid: number;
  /** Supplementary groups, the primary one included. */
  groups: number[];
  /** `uid 1000 (alice)`. */
  describe: string;
  /** Login name, or the uid as text. */
  name: string;
}

let names: { users: Map<number, string>; groups: Map<number, string> } | undefined;

/** uid/gid -> name from /etc/passwd and /etc/group (read once; numbers when unreadable). */
function nameTables(): { users: Map<number, string>; groups: Map<number, string> } {
  if (names) return names;
  const read = (file: string): Map<number, string> => {
    const map = new Map<number, string>();
    try {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        const [name, , id] = line.split(':');
        if (name && id !== undefined && /^\d+$/.test(id) && !map.has(Number(id))) map.set(Number(id), name);
      }
    } catch {
      // No /etc/passwd (minimal containers): numbers it is.
    }
    return map;
  };
  names = { users: read('/etc/passwd'), groups: read('/etc/group') };
  return names;
}

/** Login name of a uid, or the number. */
export function userName(uid: number): string {
  return nameTables().users.get(uid) ?? String(uid);
}

/** Name of a gid, or the number. */
export function groupName(gid: number): string {
  return nameTables().groups.get(gid) ?? String(gid);
}

/** The effective identity of this process. */
export function currentIdentity(): Identity {
  const uid = process.geteuid?.() ?? 0;
  const gid = process.getegid?.() ?? 0;
  const groups = [...new Set([gid, ...(process.getgroups?.() ?? [])])];
  const name = userName(uid);
  return { uid, gid, groups, name, describe: name === String(uid) ? `uid ${uid}` : `uid ${uid} (${name})` };
}
