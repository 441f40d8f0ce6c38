/**
 * The Framer API: how udsctl finds where one reply (or request) ends in a byte
 * stream, for every protocol, in one shape that send, probe and bench all use.
 *
 *   const f = createFramer(rule);             // one per connection, made up front
 *   const end = f.push(buf, from, to);        // feed buf[from, to)
 *   end >= 0           the frame ended just before buf[end]; read f.status, f.closing,
 *                      f.failed now (they hold until the next push/reset); feed the
 *                      rest (buf[end, to)) for the next frame (pipelining)
 *   end === NEED_MORE  all of buf[from, to) belongs to the open frame
 *   end === FRAME_ERROR the bytes break the protocol; f.describe() says how. The
 *                      connection is beyond repair: close it (reset() to reuse the object)
 *   at end of stream   f.endsAtClose(): the close completes the open frame (eof rule,
 *                      an HTTP body delimited by the close); else it was cut short and
 *                      f.describe() says where (for CLOSED_EARLY / REPLY_TIMEOUT messages)
 *
 * Rules a framer keeps:
 * - push() never allocates and never keeps `buf` (it is a reused read buffer); its
 *   state is a few numbers (and, for HTTP/RESP, small fixed typed arrays made in
 *   the constructor). A peer cannot grow it: over-long lines are FRAME_ERROR.
 * - push() looks at each byte at most once, so a frame split anywhere across
 *   chunks is found exactly as in one chunk (tests split every frame at every byte).
 * - After an end, the framer is ready for the next frame without reset().
 * - `byBytes` false (eof, idle): ends come from events (close, quiet), never push().
 *
 * A protocol adds one class implementing Framer, a `kind` in EndRule
 * (end-rule.ts: parse/check/format) and a case in createFramer() (index.ts).
 * Bench's many-slot loop uses SlotFramers (slot-framer.ts): one Framer per slot,
 * except the plain end rules, which keep their typed-array fast path.
 */

/**
 * Where a framer whose protocol wraps the application's bytes in framing of its
 * own (FastCGI's records) reports those bytes as push() passes them: what
 * --expect is looked for in, as probe and send decode the reply first.
 */
export interface ContentSink {
  content(buf: Uint8Array, from: number, to: number): void;
}

/** push(): the frame is still open. */
export const NEED_MORE = -1;
/** push(): the bytes are not a valid frame of the protocol (see describe()). */
export const FRAME_ERROR = -2;

export interface Framer {
  /** Whether ends are found in the bytes (false: eof and idle, ended by events). */
  readonly byBytes: boolean;
  /** Feed buf[from, to): an end index (exclusive), NEED_MORE, or FRAME_ERROR. */
  push(buf: Uint8Array, from: number, to: number): number;
  /** Forget any partial frame (a new connection). */
  reset(): void;
  /** The stream ended now: whether that completes the open frame (with the bytes fed so far). */
  endsAtClose(): boolean;
  /** After FRAME_ERROR: what was wrong; otherwise where the open frame stands. Off the hot path (allocates). */
  describe(): string;
  /** Of the last frame ended: the protocol's status (HTTP status, CGI Status:), 0 when it has none. */
  readonly status: number;
  /** Of the last frame ended: the peer said it closes the connection after it (HTTP Connection: close, HTTP/1.0). */
  readonly closing: boolean;
  /** Of the last frame ended: it is the protocol's error reply (RESP -ERR / !bulk error). */
  readonly failed: boolean;
  /** Set by a reader that wants the application's bytes without the framing (FastCGI's STDOUT); absent on framers whose bytes are the content. */
  sink?: ContentSink | null;
}
