import { onTestFinished } from 'vitest';
import type { ConnectionLog, ServeOptions, Target } from '../../src/index.js';
import { type UdsServer, startServer } from '../../src/unstable.js';

/**
 * startServer() closed when the test ends. A short grace period by default so
 * a test that leaves a connection open does not hold the cleanup for 5s; tests
 * about the grace period pass their own.
 */
export async function serve(target: Target | string, opts: ServeOptions = {}): Promise<UdsServer> {
  const server = await startServer(target, { graceTimeout: 500, ...opts });
  onTestFinished(() => server.close());
  return server;
}

/** A TCP target on 127.0.0.1 port 0 (the string form refuses port 0, so build it). */
export function tcpAnyPort(host = '127.0.0.1'): Target {
  return { kind: 'tcp', host, port: 0, display: `${host}:0` };
}

export interface LogCollector {
  logs: ConnectionLog[];
  /** Resolves once at least n logs arrived; rejects after timeoutMs. */
  waitFor(n: number, timeoutMs?: number): Promise<ConnectionLog[]>;
}

/** Record every `connection` log a server emits. */
export function collectLogs(server: UdsServer): LogCollector {
  const logs: ConnectionLog[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  server.on('connection', (log) => {
    logs.push(log);
    for (const w of [...waiters]) {
      if (logs.length >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  return {
    logs,
    waitFor(n, timeoutMs = 5_000) {
      if (logs.length >= n) return Promise.resolve(logs);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`expected ${n} connection logs within ${timeoutMs}ms, got ${logs.length}: ${JSON.stringify(logs)}`)),
          timeoutMs,
        );
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve(logs);
          },
        });
      });
    },
  };
}

/** Resolve after ms (for letting a peer act; never used to assert speed). */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
