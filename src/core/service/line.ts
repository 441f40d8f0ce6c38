/**
 * The seed's contract, as a service: udsctl's line, a line back, the server
 * closes. What probe does for a server it does not recognise, and for
 * `--as line`; every probe flag (--send, --until, --expect, ...) applies.
 */
import type { Service } from './types.js';

export const line: Service = {
  name: 'line',
  title: 'a line protocol (one-shot)',
  socketTypes: ['stream', 'seqpacket', 'dgram'],
  recognise: {},
  check: { kind: 'line' },
  findings: [],
};
