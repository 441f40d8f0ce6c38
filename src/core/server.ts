// Moved to serve/ (engine-net.ts, listener.ts, protocol.ts, options.ts); kept for bench's imports until the bench rewrite lands (issue 9).
export * from './serve/engine-net.js';
export * from './serve/listener.js';
export * from './serve/protocol.js';
export * from './serve/options.js';
