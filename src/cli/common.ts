/**
 * What the commands' definitions share: the exit an action ends with (Done,
 * which only cli.ts turns into a status), --type's option, and the words on
 * escapes and --literal that send, probe and bench use alike.
 */
import { Option } from 'commander';
import { SOCKET_TYPES } from '../core/socket/socket-type.js';

/** Raised by an action to end with a status (keeps process.exit in one place: cli.ts's main). */
export class Done {
  /** `now`: exit at once, not when pending output has drained. */
  constructor(
    readonly status: number,
    readonly now = false,
  ) {}
}

/** --type on send, probe, serve (issue 12): the Unix socket type. */
export const typeOption = (what: string) => new Option('--type <type>', what).choices(SOCKET_TYPES);

/** The one option that turns escapes off, on send, probe and bench alike. */
export const LITERAL_FLAG = '--literal';
/** What send's message, probe's --send/--expect and bench's --payload/--expect understand (core/escape.ts parseMessage). */
export const ESCAPES_HELP = `Escapes, the same in send's message, probe's --send/--expect and bench's
--payload/--expect: \\n \\r \\t \\0 \\\\ \\xHH (and \\e ESC, \\a BEL) are understood
by default; --literal sends the text as written.`;
