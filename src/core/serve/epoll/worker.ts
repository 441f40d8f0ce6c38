/**
 * Entry of a serve engine thread: loads the log renderer when the thread
 * writes the log itself (ThreadConfig.logTo), runs the loop (serve's, or the
 * tap's relay with ThreadConfig.upstream) until shutdown,
 * then says `done` (the last message on the port, so the main thread has every
 * log record once it sees it).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runServeThread } from './thread.js';
import { runRelayThread } from './relay-thread.js';
import type { ThreadConfig, ThreadMessage } from './shared.js';
import type { ConnectionRenderer, LogRenderers } from './thread-log.js';
import type { RelayRenderers } from './relay-log.js';

const port = parentPort!;
const post = (msg: ThreadMessage, transfer?: ArrayBuffer[]) => port.postMessage(msg, transfer);
const cfg = workerData as ThreadConfig;

try {
  let render: LogRenderers | undefined;
  if (cfg.logTo) {
    const mod = (await import(cfg.logTo.module)) as Record<string, (...args: unknown[]) => ConnectionRenderer | LogRenderers>;
    const factory = mod[cfg.logTo.factory];
    if (typeof factory !== 'function') throw new Error(`${cfg.logTo.module} has no function ${cfg.logTo.factory}`);
    // A factory returns the connection renderer, or the renderers of every kind of line.
    const made = factory(...cfg.logTo.args);
    render = typeof made === 'function' ? { connection: made } : made;
  }
  // The relay's factory (logTo) returns its own renderers (relay-log.ts's RelayRenderers).
  if (cfg.upstream) runRelayThread(cfg, cfg.upstream, post, render as unknown as RelayRenderers | undefined);
  else runServeThread(cfg, post, render);
} catch (err) {
  post({ type: 'fatal', message: (err as Error)?.message ?? String(err) });
}
post({ type: 'done' });
