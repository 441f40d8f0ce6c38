/**
 * Entry of a serve engine thread: runs the loop until shutdown, then says
 * `done` (the last message on the port, so the main thread has every log
 * record once it sees it).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runServeThread } from './engine.js';
import type { ThreadConfig, ThreadMessage } from './shared.js';

const port = parentPort!;
const post = (msg: ThreadMessage, transfer?: ArrayBuffer[]) => port.postMessage(msg, transfer);

try {
  runServeThread(workerData as ThreadConfig, post);
} catch (err) {
  post({ type: 'fatal', message: (err as Error)?.message ?? String(err) });
}
post({ type: 'done' });
