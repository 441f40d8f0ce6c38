/**
 * The file descriptor under a node:net socket, for the few calls Node has no
 * API for (SO_PEERCRED, SO_SNDBUF, shutdown on a raw fd). Node keeps it on a
 * private field (`_handle.fd`); this is the one place that reads it, so a
 * Node release that moves it breaks one line.
 */
import type net from 'node:net';

/** The socket's fd, or -1 when it has none (not connected yet, destroyed, or not a Unix/TCP handle). */
export function socketFd(socket: net.Socket | net.Server | object): number {
  const fd = (socket as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}
