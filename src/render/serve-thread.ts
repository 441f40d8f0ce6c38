/**
 * The connection log's renderers as serve's engine threads load them
 * (EpollServeOptions.logTo names this module by URL): a thread cannot be
 * handed a function, so it is handed a factory's name and plain arguments.
 */
import { Chalk, type ColorSupportLevel } from 'chalk';
import type { LineWriter } from '../core/line-writer.js';
import type { LogRenderers } from '../core/serve/epoll/thread-log.js';
import { connectionJsonRenderer, connectionLineRenderer, droppedLine, requestJsonRenderer, requestLineRenderer } from './serve.js';
import type { RelayRenderers } from '../core/serve/epoll/relay-log.js';
import { tapConnectionJsonRenderer, tapConnectionLineRenderer, trafficJsonRenderer, trafficLineRenderer } from './tap.js';

/** serve's note of the lines it dropped (the reader did not keep up), as a renderer writes it. */
function droppedRenderer(json: boolean, c = new Chalk({ level: 0 })): (n: number, out: LineWriter) => void {
  const dropped = droppedLine(json, c);
  return (n, out) => {
    out.text(dropped(n));
    out.end();
  };
}

/** Human lines, coloured at this chalk level (0: none); `keepAlive`: a line per request, the connection's counts them. */
export function humanLines(level: ColorSupportLevel, keepAlive = false): LogRenderers {
  const c = new Chalk({ level });
  return {
    connection: connectionLineRenderer(c, { keepAlive }),
    request: requestLineRenderer(c),
    dropped: droppedRenderer(false, c),
  };
}

/** JSON lines, with the serving process's pid. */
export function jsonLines(pid: number): LogRenderers {
  return {
    connection: connectionJsonRenderer(pid),
    request: requestJsonRenderer(pid),
    dropped: droppedRenderer(true),
  };
}

/** The tap's epoll relay (relay-log.ts): its traffic and connection lines, human, coloured at this level; `hexdump` as --hexdump. */
export function tapHumanLines(level: ColorSupportLevel, hexdump = false): RelayRenderers {
  const c = new Chalk({ level });
  return {
    traffic: trafficLineRenderer(c, { hexdump }),
    connection: tapConnectionLineRenderer(c),
    dropped: droppedRenderer(false, c),
  };
}

/** The tap's epoll relay: JSON lines, with the serving process's pid. */
export function tapJsonLines(pid: number): RelayRenderers {
  return {
    traffic: trafficJsonRenderer(pid),
    connection: tapConnectionJsonRenderer(pid),
    dropped: droppedRenderer(true),
  };
}
