// Moved to socket/connect.ts; kept for bench's imports until the bench rewrite lands (issue 9).
export * from './socket/connect.js';
