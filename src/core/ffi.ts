// Moved to socket/ffi.ts; kept for bench's imports until the bench rewrite lands (issue 9).
export * from './socket/ffi.js';
