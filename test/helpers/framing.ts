/** Feeding a Framer a stream cut into chunks, for the framing tests. */
import { FRAME_ERROR, type Framer, NEED_MORE } from '../../src/core/framing/index.js';

/** All frame ends in `stream` fed in chunks cut at `cuts`; FRAME_ERROR ends the list. */
export function framerEnds(f: Framer, stream: Buffer, cuts: number[]): number[] {
  const at = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const ends: number[] = [];
  let prev = 0;
  for (const to of [...at, stream.length]) {
    let pos = prev;
    while (pos < to) {
      const e = f.push(stream, pos, to);
      if (e === FRAME_ERROR) return [...ends, FRAME_ERROR];
      if (e === NEED_MORE) break;
      ends.push(e);
      pos = e;
    }
    prev = to;
  }
  return ends;
}

