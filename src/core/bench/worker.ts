/**
 * Entry of a bench worker thread: runs the load loop over its engine's
 * transport for its share of the connections and reports through messages
 * (see worker-stats.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { UdsError } from '../errors.js';
import { LoadLoop, type LoopIo } from './loop.js';
import { EpollTransport } from './transport-epoll.js';
import { NetTransport } from './transport-net.js';
import type { WorkerConfig, WorkerMessage } from './worker-stats.js';

const port = parentPort!;
const cfg = workerData as WorkerConfig;

const io: LoopIo = {
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
  const loop = new LoadLoop(cfg, io);
  loop.attach(cfg.engine === 'epoll' ? new EpollTransport(cfg, loop) : new NetTransport(cfg, loop));
  await loop.run();
} catch (err) {
  const code = err instanceof UdsError ? err.code : 'IO_ERROR';
  io.post({ type: 'fatal', code, message: (err as Error)?.message ?? String(err) });
}
// Nothing listens on the port any more, so the thread ends once the messages are out.
