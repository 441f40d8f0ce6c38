/**
 * src/core/framing: the one place where replies (and requests) are framed.
 * The API is documented in framer.ts; this module makes framers from rules.
 *
 *   createFramer(rule)            one Framer, for one connection (send, probe)
 *   createSlotFramer(rule, slots) a SlotFramer over bench's slots (one Framer
 *                                 per slot, or the typed-array plain rules)
 *
 * A protocol's framer is one file here and one case below.
 */
import { UdsError } from '../errors.js';
import type { EndRule } from './end-rule.js';
import type { Framer } from './framer.js';
import { FastcgiFramer } from './fastcgi.js';
import { HttpFramer } from './http.js';
import { NAMED_FRAMERS } from './named.js';
import { RespFramer } from './resp.js';
import { plainFramer } from './rule-framers.js';
import { PerSlot, RuleSlots, type SlotFramer } from './slot-framer.js';

export { FRAME_ERROR, NEED_MORE, type Framer } from './framer.js';
export type { SlotFramer } from './slot-framer.js';

/** A new framer for one connection. */
export function createFramer(rule: EndRule): Framer {
  const plain = plainFramer(rule);
  if (plain) return plain;
  switch (rule.kind) {
    case 'http':
      return new HttpFramer(rule.head);
    case 'resp':
      return new RespFramer();
    case 'fastcgi':
      return new FastcgiFramer(rule.keepConn);
    case 'framer': {
      const make = rule.create ?? NAMED_FRAMERS[rule.name];
      if (!make) throw new UdsError('NOT_SUPPORTED', `no framer named ${rule.name}`);
      return make();
    }
    default:
      throw new UdsError('NOT_SUPPORTED', `no framer for replies of kind ${rule.kind}`);
  }
}

/** Framing for `slots` connections at once (bench): the plain rules in typed arrays, the rest one Framer per slot. */
export function createSlotFramer(rule: EndRule, slots: number): SlotFramer {
  switch (rule.kind) {
    case 'eof':
    case 'idle':
    case 'line':
    case 'delim':
    case 'bytes':
      return new RuleSlots(rule, slots);
    default:
      return new PerSlot(() => createFramer(rule), slots);
  }
}
