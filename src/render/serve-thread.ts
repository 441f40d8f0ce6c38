/**
 * The connection log's renderers as serve's engine threads load them
 * (EpollServeOptions.logTo names this module by URL): a thread cannot be
 * handed a function, so it is handed a factory's name and plain arguments.
 */
import { Chalk, type ColorSupportLevel } from 'chalk';
import { connectionJsonRenderer, connectionLineRenderer } from './serve.js';

/** Human lines, coloured at this chalk level (0: none). */
export function humanLines(level: ColorSupportLevel) {
  return connectionLineRenderer(new Chalk({ level }));
}

/** JSON lines, with the serving process's pid. */
export function jsonLines(pid: number) {
  return connectionJsonRenderer(pid);
}
