/**
 * The one receive path of a message socket (dgram or seqpacket) for serve's
 * servers and taps: each message with its sender's address and credentials
 * (SCM_CREDENTIALS on Linux, from any sender, bound or not), and a seqpacket
 * peer's end told apart from a 0-length message. recv(2) returns 0 for both;
 * the kernel attaches credentials to every message (a 0-length one too) and
 * never to the end, so with SO_PASSCRED on the socket the two differ.
 * Without it (not 64-bit Linux) a 0 on seqpacket is taken for the end.
 */
import { E } from './ffi.js';
import { CredentialReceiver, type MessageSocket, type PeerCred, SOCKADDR_UN_MAX, describeSockaddr } from './message.js';
import { type NamedPeer, processName } from './peer.js';

/** recv(): the seqpacket peer's end (its write side shut, or closed). */
export const RECV_END = -1;
/** recv(): nothing queued. */
export const RECV_NONE = -E.EAGAIN;

export class MessageReceiver {
  /** The sender's address as the kernel gave it (SOCKADDR_UN_MAX bytes). */
  readonly from = Buffer.alloc(SOCKADDR_UN_MAX);
  private readonly creds: CredentialReceiver | null;
  private readonly fromLen = Buffer.alloc(4);

  constructor(
    readonly sock: MessageSocket,
    /** Where each message lands: Buffer.alloc'd, over 64 bytes (off the V8 heap: its address is kept). */
    readonly buf: Buffer,
  ) {
    this.creds = CredentialReceiver.open(sock, buf, this.from);
  }

  /**
   * One message without waiting: its whole length (more than buf.length when
   * the kernel cut it), RECV_NONE when none is queued, RECV_END for a seqpacket
   * peer's end. Throws the errno error of anything else (ECONNRESET...).
   */
  recv(label: string): number {
    const creds = this.creds;
    if (creds) {
      const n = creds.tryRecv(label);
      return n === 0 && this.sock.type === 'seqpacket' && !creds.hadCred ? RECV_END : n;
    }
    const n = this.sock.tryRecv(this.buf, label, { addr: this.from, len: this.fromLen });
    return n === 0 && this.sock.type === 'seqpacket' ? RECV_END : n;
  }

  /** The last message's sender (pid 0 never: null when the kernel gave none). */
  get sender(): PeerCred | null {
    const creds = this.creds;
    return creds && creds.hadCred && creds.cred.pid > 0 ? creds.cred : null;
  }

  /** The last message's sender with its process name (as a seqpacket connection's peer is named), or null. */
  namedSender(): NamedPeer | null {
    const cred = this.sender;
    if (!cred) return null;
    const name = processName(cred.pid);
    return name === undefined ? { ...cred } : { ...cred, name };
  }

  /** The last datagram's sender address: a path, `@name`, or '' (unbound: it cannot be answered). */
  fromAddress(): string {
    return describeSockaddr(this.from, Math.min(this.fromLength(), SOCKADDR_UN_MAX));
  }

  /** The sender's sockaddr as sendto(2) takes it back (a copy). */
  fromSockaddr(): Buffer {
    return Buffer.from(this.from.subarray(0, Math.min(this.fromLength(), SOCKADDR_UN_MAX)));
  }

  private fromLength(): number {
    return this.creds ? this.creds.fromLen : this.fromLen.readUInt32LE(0);
  }
}
