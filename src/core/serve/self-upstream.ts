/**
 * A tap whose upstream is its own address (`serve --upstream X X`, or a
 * symlink to X) would relay each connection to itself, and that one to itself
 * again: one client made about 10,000 chained connections and used every file
 * descriptor. Refused before anything is bound.
 */
import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UdsError } from '../errors.js';
import { fsPath, type Target } from '../socket/target.js';

/**
 * The file a path names, symlinks followed (of the path and its directories),
 * also a dangling one (to the listen path, not bound yet): at most 40 links.
 */
function resolved(path: string, hops = 40): string {
  const abs = resolve(path);
  try {
    return String(realpathSync(fsPath(abs)));
  } catch {
    let dir: string;
    try {
      dir = String(realpathSync(fsPath(dirname(abs))));
    } catch {
      return abs;
    }
    const at = join(dir, basename(abs));
    try {
      if (hops > 0 && lstatSync(fsPath(at)).isSymbolicLink()) return resolved(resolve(dir, String(readlinkSync(fsPath(at)))), hops - 1);
    } catch {
      /* not there: the name as it is */
    }
    return at;
  }
}

/** BAD_OPTION when `upstream` is the address `listen` is to be: the same path (through symlinks too), abstract name, or TCP port. */
export function refuseSelfUpstream(listen: Target, upstream: Target): void {
  let same = false;
  if (listen.kind === 'unix' && upstream.kind === 'unix') same = resolved(listen.path) === resolved(upstream.path);
  else if (listen.kind === 'abstract' && upstream.kind === 'abstract') same = listen.name.equals(upstream.name);
  else if (listen.kind === 'tcp' && upstream.kind === 'tcp') same = listen.port !== 0 && listen.port === upstream.port && listen.host === upstream.host;
  if (same) {
    throw new UdsError('BAD_OPTION', `--upstream ${upstream.display} is the address the tap listens on (${listen.display}): it would relay every connection to itself`);
  }
}
