/**
 * The connection log's renderers as serve's engine threads load them
 * (EpollServeOptions.logTo names this module by URL): a thread cannot be
 * handed a function, so it is handed a factory's name and plain arguments.
 */
import { Chalk, type ColorSupportLevel } from 'chalk';
import type { LogRenderers } from '../core/serve/epoll/thread-log.js';
import { connectionJsonRenderer, connectionLineRenderer, droppedLine, requestJsonRenderer, requestLineRenderer } from './serve.js';
import type { RelayRenderers } from '../core/serve/epoll/relay-log.js';
import { tapConnectionJsonRenderer, tapConnectionLineRenderer, trafficJsonRenderer, trafficLineRenderer } from './tap.js';

/** Human lines, coloured at this chalk level (0: none); `keepAlive`: a line per request, the connection's counts them. */
export function humanLines(level: ColorSupportLevel, keepAlive = false): LogRenderers {
  const c = new Chalk({ level });
  const dropped = droppedLine(false, c);
  return {
    connection: connectionLineRenderer(c, { keepAlive }),
    request: requestLineRenderer(c),
    dropped: (n, out) => {
      out.text(dropped(n));
      out.end();
    },
  };
}

/** JSON lines, with the serving process's pid. */
export function jsonLines(pid: number): LogRenderers {
  const dropped = droppedLine(true, new Chalk({ level: 0 }));
  return {
    connection: connectionJsonRenderer(pid),
    request: requestJsonRenderer(pid),
    dropped: (n, out) => {
      out.text(dropped(n));
      out.end();
    },
  };
}

/** The tap's epoll relay (relay-log.ts): its traffic and connection lines, human, coloured at this level; `hexdump` as --hexdump. */
export function tapHumanLines(level: ColorSupportLevel, hexdump = false): RelayRenderers {
  const c = new Chalk({ level });
  const dropped = droppedLine(false, c);
  return {
    traffic: trafficLineRenderer(c, { hexdump }),
    connection: tapConnectionLineRenderer(c),
    dropped: (n, out) => {
      out.text(dropped(n));
      out.end();
    },
  };
}

/** The tap's epoll relay: JSON lines, with the serving process's pid. */
export function tapJsonLines(pid: number): RelayRenderers {
  const dropped = droppedLine(true, new Chalk({ level: 0 }));
  return {
    traffic: trafficJsonRenderer(pid),
    connection: tapConnectionJsonRenderer(pid),
    dropped: (n, out) => {
      out.text(dropped(n));
      out.end();
    },
  };
}
