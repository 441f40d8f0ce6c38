/**
 * The one terminal operation the core offers: discard what the user typed and
 * nobody read (tcflush(fd, TCIFLUSH)), so that lines typed into an interactive
 * session never run as shell commands after udsctl exits.
 */
import { isatty } from 'node:tty';
import { sessionLibc } from './socket/libc.js';

/** TCIFLUSH: 0 on Linux, 1 on the BSDs and macOS. */
const TCIFLUSH = process.platform === 'linux' ? 0 : 1;

/**
 * Throw away the terminal's pending input on `fd` (typed, not yet read; a line
 * half typed too). Returns false when `fd` is not a terminal or the call is not
 * available (no koffi build): then nothing was discarded.
 */
export function discardTypedInput(fd: number): boolean {
  try {
    if (!isatty(fd)) return false;
    return sessionLibc().tcflush(fd, TCIFLUSH) === 0;
  } catch {
    return false;
  }
}
