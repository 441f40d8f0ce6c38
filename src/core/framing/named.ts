/**
 * Framers known by name: a service's framer that must also be made where a
 * function cannot go (bench's worker threads get their end rule by
 * structured clone). `{ kind: 'framer', name }` is made from here; a rule
 * with its own `create` (a service's dialogue, in this thread) needs no entry.
 */
import type { Framer } from './framer.js';
import { FastcgiRecordFramer } from './fastcgi-record.js';
import { MemcachedFramer } from './memcached.js';

export const NAMED_FRAMERS: Readonly<Record<string, () => Framer>> = {
  memcached: () => new MemcachedFramer(),
  'one FastCGI record': () => new FastcgiRecordFramer(),
};
