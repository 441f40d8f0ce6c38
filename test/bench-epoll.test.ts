/** The bench suite (bench-suite.ts) with the epoll engine; a file of its own so the engines run in parallel. */
import { cleanupAfterEach, engineSuite } from './bench-suite.js';

cleanupAfterEach();
engineSuite('epoll');
