// Moved to serve/epoll/server.ts; kept for bench's imports until the bench rewrite lands (issue 9).
export * from '../serve/epoll/server.js';
