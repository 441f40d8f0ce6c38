/** --crlf of the interactive session: each typed `\n` sent as `\r\n` (session.ts). */
/** `\n` → `\r\n`, remembering a `\r` that ended the last chunk (a `\r\n` already there is left alone). */
export class CrlfLines {
  private lastCR = false;
  convert(chunk: Buffer): Buffer {
    const bare = (i: number): boolean => chunk[i] === 0x0a && (i === 0 ? !this.lastCR : chunk[i - 1] !== 0x0d);
    let count = 0;
    for (let i = 0; i < chunk.length; i++) if (bare(i)) count++;
    let out = chunk;
    if (count > 0) {
      out = Buffer.allocUnsafe(chunk.length + count);
      let o = 0;
      for (let i = 0; i < chunk.length; i++) {
        if (bare(i)) out[o++] = 0x0d;
        out[o++] = chunk[i];
      }
    }
    if (chunk.length > 0) this.lastCR = chunk[chunk.length - 1] === 0x0d;
    return out;
  }
}
