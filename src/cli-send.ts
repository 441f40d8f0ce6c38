/**
 * The CLI with `send` alone: the bundle the launcher starts for `udsctl send`
 * (scripts/bundle.mjs, scripts/launch.cjs). The same shell and the same send
 * definition as src/cli.ts, without the other commands' definitions and the
 * modules they load at start (probe's findings, the service table, serve's
 * engines table): a smaller bundle, read, deserialised and run in less time.
 */
import { defineSend } from './cli/send.js';
import { makeCli } from './cli/program.js';

export const { buildProgram, main } = makeCli({ send: defineSend });
