/** The bench suite (bench-suite.ts) with the net engine; a file of its own so the engines run in parallel. */
import { cleanupAfterEach, engineSuite } from './bench-suite.js';

cleanupAfterEach();
engineSuite('net');
