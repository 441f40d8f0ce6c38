/**
 * The one sockaddr builder: the address of a Unix socket with its exact
 * length, as bind(2) and connect(2) take it (and sockaddr_in/in6 for the raw
 * TCP connects of bench's epoll transport). Exact matters for abstract names
 * (`@name`): the kernel compares every byte of the given length, so a name
 * padded to sizeof(sockaddr_un) (Node 20's net, nodejs/node#49656) never meets
 * the one socat, nc, Python or Go use.
 */
import { AF_INET, AF_INET6, AF_UNIX } from './ffi.js';
import { libc } from './libc.js';
import { keptBytes } from '../escape.js';

/** sockaddr_un for a filesystem path: family, the path, its terminating NUL. */
export function sockaddrPath(path: string | Uint8Array): Buffer {
  const bytes = typeof path === 'string' ? keptBytes(path) : path;
  const addr = Buffer.alloc(3 + bytes.length);
  addr.writeUInt16LE(AF_UNIX, 0);
  addr.set(bytes, 2);
  return addr;
}

/** sockaddr_un for an abstract name: family, a leading NUL, the name, and not one byte more. */
export function sockaddrAbstract(name: Uint8Array): Buffer {
  const addr = Buffer.alloc(3 + name.length);
  addr.writeUInt16LE(AF_UNIX, 0);
  addr.set(name, 3);
  return addr;
}

/** sockaddr_in (IPv4) or sockaddr_in6 for a numeric address and a port; null when `address` is not one of that family. */
export function sockaddrInet(v6: boolean, address: string, port: number): Buffer | null {
  const addr = Buffer.alloc(v6 ? 28 : 16);
  addr.writeUInt16LE(v6 ? AF_INET6 : AF_INET, 0);
  addr.writeUInt16BE(port, 2);
  return libc().inetPton(v6 ? AF_INET6 : AF_INET, address, addr.subarray(v6 ? 8 : 4)) === 1 ? addr : null;
}
