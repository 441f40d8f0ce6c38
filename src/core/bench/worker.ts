/**
 * Entry of a bench worker thread: runs one engine over its share of the
 * connections and reports through messages (see worker-stats.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { UdsError } from '../errors.js';
import { type EngineIo, runEpollEngine } from './engine-epoll.js';
import { runNetEngine } from './engine-net.js';
import type { WorkerConfig, WorkerMessage } from './worker-stats.js';

const port = parentPort!;
const cfg = workerData as WorkerConfig;

const io: EngineIo = {
  post: (msg: WorkerMessage) => port.postMessage(msg),
  // The main thread names the start as a process.hrtime instant: the one clock all threads share.
  waitGo: () =>
    new Promise((resolve) => {
      port.once('message', (m: { type: 'go'; startNs: bigint }) => {
        resolve(performance.now() + Number(m.startNs - process.hrtime.bigint()) / 1e6);
      });
    }),
};

try {
  await (cfg.engine === 'epoll' ? runEpollEngine(cfg, io) : runNetEngine(cfg, io));
} catch (err) {
  const code = err instanceof UdsError ? err.code : 'IO_ERROR';
  io.post({ type: 'fatal', code, message: (err as Error)?.message ?? String(err) });
}
// Nothing listens on the port any more, so the thread ends once the messages are out.
