// Moved to socket/target.ts; kept for bench's imports until the bench rewrite lands (issue 9).
export * from './socket/target.js';
