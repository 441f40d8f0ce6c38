/**
 * Framers known by name: a service's framer that must also be made where a
 * function cannot go (bench's worker threads get their end rule by
 * structured clone). `{ kind: 'framer', name }` is made from here; a rule
 * with its own `create` (a service's dialogue, in this thread) needs no entry.
 */
import type { Framer } from './framer.js';
import { type LengthHeader, LengthFramer } from './length-framer.js';
import { MemcachedFramer } from './memcached.js';

/**
 * Exactly one FastCGI record (header, content, padding): the end of a
 * management reply (FCGI_GET_VALUES_RESULT), for php-fpm's health request in
 * probe (src/core/service/fastcgi.ts) and bench. The 8-byte header: version 1,
 * type, request id, the content length (2 bytes, big-endian), the padding length.
 */
const FASTCGI_RECORD: LengthHeader = {
  name: 'FastCGI record',
  size: 8,
  bodyLength: (h) => (h[0] === 1 ? ((h[4] << 8) | h[5]) + h[6] : -1),
  // The version byte says what came instead: 72 is an HTTP answer's "H".
  invalid: (h) => `not a FastCGI record (version ${h[0]})`,
  max: 0xffff + 0xff,
};

export const NAMED_FRAMERS: Readonly<Record<string, () => Framer>> = {
  memcached: () => new MemcachedFramer(),
  'one FastCGI record': () => new LengthFramer(FASTCGI_RECORD),
};
