/**
 * ls's places: the folders walked for stale socket files (the usual ones, or
 * those given), the bounded walk itself, and which entries the path
 * arguments (files, folders, @prefixes) keep.
 */
import { type Dirent, readdirSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { nowMs } from '../clock.js';
import { decodeKeepingBytes } from '../escape.js';
import { fsPath } from '../socket/target.js';
import type { LsEntry } from './list.js';

/** The path arguments, sorted: folders (real paths), files (real and as given), abstract `@prefix`es. */
export interface PathFilters {
  dirs: string[];
  files: string[];
  abstract: string[];
}

/** The usual places of socket files: /run, /var/run, /tmp, $XDG_RUNTIME_DIR (each once, by its real path). */
export function defaultRoots(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const d of ['/run', '/var/run', '/tmp', env.XDG_RUNTIME_DIR]) {
    if (!d) continue;
    let real: string;
    try {
      real = realpathSync(d);
    } catch {
      continue;
    }
    if (!out.includes(real)) out.push(real);
  }
  return out;
}

export interface Walk {
  files: string[];
  limit: string | null;
}

/** Socket files under `roots`, breadth first; symlinked folders not followed; bounded in depth, entries and time. */
export function walkSockets(roots: string[], maxDepth: number, maxEntries: number, budgetMs: number, sayDepth: boolean): Walk {
  const out: Walk = { files: [], limit: null };
  const deadline = nowMs() + budgetMs;
  let seen = 0;
  let level = roots.map((r) => r);
  for (let depth = 0; depth <= maxDepth && level.length > 0; depth++) {
    const next: string[] = [];
    for (const dir of level) {
      if (nowMs() > deadline) {
        out.limit = `the walk for stale socket files stopped after ${budgetMs} ms`;
        return out;
      }
      let items: Dirent<Buffer>[];
      try {
        // Names as bytes: a socket file whose name is not UTF-8 is stat'ed by its own bytes, not by U+FFFDs.
        items = readdirSync(fsPath(dir), { withFileTypes: true, encoding: 'buffer' });
      } catch {
        continue; // not ours to read: what is in it stays unknown
      }
      for (const d of items) {
        if (++seen > maxEntries) {
          out.limit = `the walk for stale socket files stopped after ${maxEntries} entries`;
          return out;
        }
        const name = decodeKeepingBytes(d.name);
        const p = dir === '/' ? `/${name}` : `${dir}/${name}`;
        // Sockets never live in these, and a checkout in /tmp has thousands of entries in them.
        if (d.isDirectory()) {
          if (name !== 'node_modules' && name !== '.git') next.push(p);
        }
        else if (d.isSocket()) out.files.push(p);
      }
    }
    if (sayDepth && depth === maxDepth && next.length > 0) out.limit = `the walk for stale socket files went ${maxDepth} folders deep, no further`;
    level = next;
  }
  return out;
}

/** Whether an entry is at or under the paths given (an abstract name: starts with a @prefix given); null: no paths, every entry. */
export function matchesPaths(e: Pick<LsEntry, 'kind' | 'display' | 'absolute'>, filters: PathFilters | null): boolean {
  if (!filters) return true;
  if (e.kind === 'abstract') return filters.abstract.some((p) => e.display.startsWith(p));
  if (e.kind === 'tcp') return false;
  const p = e.absolute ?? e.display;
  return filters.files.includes(p) || filters.dirs.some((d) => p === d || p.startsWith(d.endsWith('/') ? d : `${d}/`));
}

/** The real path of a given folder or file, else its absolute form. */
function realOrAbsolute(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

/** Sort the path arguments into folders, files and @prefixes. */
export function splitPaths(paths: string[]): PathFilters {
  const out: PathFilters = { dirs: [], files: [], abstract: [] };
  for (const p of paths) {
    if (p.startsWith('@')) {
      out.abstract.push(p);
      continue;
    }
    const real = realOrAbsolute(p);
    let isDir = false;
    try {
      isDir = statSync(real).isDirectory();
    } catch {
      isDir = false;
    }
    if (isDir) out.dirs.push(real);
    else out.files.push(real, path.resolve(p));
  }
  return out;
}
