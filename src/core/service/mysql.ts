/**
 * MySQL and MariaDB: the server speaks first. Its initial handshake packet
 * (protocol 10: server version, connection id, auth plugin) says it is alive
 * and would let a client log in; an ERR packet in its place says why not
 * (1040 too many connections, 1129 host blocked, 1130 host not allowed).
 * That is what `mysqladmin ping` would say, without logging in: udsctl reads
 * the greeting and closes. Over a Unix socket an abandoned handshake costs
 * nothing; over TCP it counts toward max_connect_errors for the client's host
 * until a client from that host logs in (as for haproxy's mysql-check without
 * a user).
 */
import { lengthRule } from '../framing/length-framer.js';
import type { ExchangeRecord } from '../exchange-record.js';
import type { CheckContext, Conversation, Service, Verdict } from './types.js';

/** A greeting is about 100 bytes; 64 KiB is far more than any server sends. */
const MAX_PACKET = 64 * 1024;

/** A packet: a 3-byte little-endian payload length and a sequence byte, then the payload. */
export const MYSQL_PACKET = lengthRule({
  name: 'mysql packet',
  size: 4,
  bodyLength: (h) => h[0] | (h[1] << 8) | (h[2] << 16),
  max: MAX_PACKET,
});

/** The error codes a server sends instead of a greeting, in its own words. */
const ERR_CODES: Record<number, string> = {
  1040: 'MYSQL_TOO_MANY_CONNECTIONS',
  1129: 'MYSQL_HOST_BLOCKED',
  1130: 'MYSQL_HOST_NOT_ALLOWED',
};

const CLIENT_SSL = 0x800;
const CLIENT_PLUGIN_AUTH = 0x80000;

/** The fields of a protocol 10 greeting udsctl shows. */
export interface Greeting {
  protocol: number;
  version: string;
  connectionId: number;
  authPlugin?: string;
  tls: boolean;
}

/** Parse a protocol 10 greeting's payload; null when it is cut short. */
export function parseGreeting(p: Buffer): Greeting | null {
  const nul = p.indexOf(0, 1);
  if (nul < 0 || p.length < nul + 1 + 4 + 8 + 1 + 2) return null;
  const version = p.subarray(1, nul).toString('utf8');
  let i = nul + 1;
  const connectionId = p.readUInt32LE(i);
  i += 4 + 8 + 1; // connection id, auth-plugin-data part 1, filler
  let caps = p.readUInt16LE(i);
  i += 2;
  const g: Greeting = { protocol: p[0], version, connectionId, tls: false };
  if (p.length >= i + 1 + 2 + 2 + 1 + 10) {
    i += 1 + 2; // character set, status flags
    caps |= p.readUInt16LE(i) << 16;
    i += 2;
    const authDataLen = p[i];
    i += 1 + 10; // auth data length, reserved
    i += Math.max(13, authDataLen - 8); // auth-plugin-data part 2
    if (caps & CLIENT_PLUGIN_AUTH && i < p.length) {
      const end = p.indexOf(0, i);
      g.authPlugin = p.subarray(i, end < 0 ? p.length : end).toString('utf8');
    }
  }
  g.tls = (caps & CLIENT_SSL) !== 0;
  return g;
}

/** MariaDB puts "5.5.5-" before its version, for clients that expect MySQL 5. */
const shownVersion = (v: string) => v.replace(/^5\.5\.5-/, '');

/** ERR packet payload: 0xff, error code (2 bytes LE), then "#" and a 5-character SQLSTATE (optional), then the message. */
export function parseErr(p: Buffer): { code: number; sqlstate?: string; message: string } {
  const code = p.length >= 3 ? p.readUInt16LE(1) : 0;
  let i = 3;
  let sqlstate: string | undefined;
  if (p[i] === 0x23 && p.length >= i + 6) {
    sqlstate = p.subarray(i + 1, i + 6).toString('latin1');
    i += 6;
  }
  return { code, sqlstate, message: p.subarray(i).toString('utf8') };
}

/** Judge the server's first packet (header included). */
export function judgeFirstPacket(packet: Buffer): Verdict {
  const p = packet.subarray(4);
  if (p[0] === 0xff) {
    const e = parseErr(p);
    const code = ERR_CODES[e.code] ?? 'MYSQL_ERROR';
    return {
      code,
      summary: `refused with error ${e.code}${e.sqlstate ? ` (${e.sqlstate})` : ''}: ${e.message}`,
      details: { error: e.code, message: e.message, ...(e.sqlstate ? { sqlstate: e.sqlstate } : {}), mysqladminPing: 'failed' },
    };
  }
  if (p[0] === 10 || p[0] === 9) {
    const g = parseGreeting(p);
    if (g) {
      // MariaDB names itself in its version ("10.11.19-MariaDB-0+deb12u1").
      const flavour = /mariadb/i.test(g.version) ? '' : 'MySQL ';
      return {
        code: 'OK',
        summary: `${flavour}${shownVersion(g.version)} greeted (connection ${g.connectionId}${g.authPlugin ? `, ${g.authPlugin}` : ''}); not logged in`,
        details: {
          mysqladminPing: 'alive',
          version: g.version,
          connectionId: g.connectionId,
          protocol: g.protocol,
          tls: g.tls,
          ...(g.authPlugin ? { authPlugin: g.authPlugin } : {}),
        },
      };
    }
  }
  return { code: 'MYSQL_NOT_MYSQL', summary: `a first packet starting 0x${(p[0] ?? 0).toString(16).padStart(2, '0')}, neither a protocol 10 greeting nor an error` };
}

/** A greeting's first bytes: a plausible length, sequence 0, protocol 10 and a printable version. */
function looksLikeGreeting(b: Buffer): boolean {
  if (b.length < 8) return false;
  const len = b[0] | (b[1] << 8) | (b[2] << 16);
  if (b[3] !== 0 || len < 20 || len > 1024) return false;
  if (b[4] === 0xff) return len >= 3;
  return b[4] === 10 && b[5] >= 0x30 && b[5] <= 0x39;
}

/**
 * MySQL 8's X Protocol socket (mysqlx.sock) belongs to mysqld too, but there the
 * client speaks first: no greeting comes, and silence there is not a fault.
 */
function nameFailure(record: ExchangeRecord, ctx: CheckContext): Verdict | null {
  if (record.error?.code !== 'REPLY_TIMEOUT' || !/mysqlx[^/]*\.sock$/.test(ctx.display)) return null;
  return {
    code: 'MYSQL_X_PROTOCOL',
    summary: "no greeting: this is mysqld's X Protocol socket (mysqlx), where the client speaks first; it is not checked",
  };
}

export const mysql: Service = {
  name: 'mysql',
  title: 'MySQL / MariaDB',
  socketTypes: ['stream'],
  recognise: {
    process: /^(mysqld|mariadbd|mariadb|mysqld_safe)$/,
    path: /\/(mysqld?|mariadb|mariadbd)\.sock$/,
    banner: looksLikeGreeting,
  },
  // The server speaks first: nothing is sent, the first packet is read and the connection closed.
  check: { kind: 'dialogue', run: async (conv: Conversation) => judgeFirstPacket((await conv.read(MYSQL_PACKET)).bytes) },
  nameFailure,
  findings: [
    {
      code: 'MYSQL_TOO_MANY_CONNECTIONS',
      severity: 'CRITICAL',
      title: 'MySQL has no free connection',
      cause: 'the server sent ERR 1040 "Too many connections" instead of a greeting: max_connections (and the one extra for an admin) are all taken',
      fix: 'find idle or stuck sessions (SHOW PROCESSLIST) and end them, pool connections, or raise max_connections',
    },
    {
      code: 'MYSQL_HOST_BLOCKED',
      severity: 'CRITICAL',
      title: 'MySQL blocked this host',
      cause: 'ERR 1129: more than max_connect_errors interrupted handshakes came from this host',
      fix: 'run mysqladmin flush-hosts (or FLUSH HOSTS) and find the client that abandons its handshakes',
    },
    {
      code: 'MYSQL_HOST_NOT_ALLOWED',
      severity: 'CRITICAL',
      title: 'MySQL does not allow this host',
      cause: 'ERR 1130: no account may connect from this host',
      fix: 'grant an account for this host, or connect from one that has one (the Unix socket is localhost)',
    },
    {
      code: 'MYSQL_ERROR',
      severity: 'CRITICAL',
      title: 'MySQL refused the connection',
      cause: 'the server sent an ERR packet instead of a greeting',
      fix: "read the error shown and the server's error log",
    },
    {
      code: 'MYSQL_X_PROTOCOL',
      severity: 'UNKNOWN',
      title: "MySQL's X Protocol socket",
      cause: 'mysqld sent no greeting on a mysqlx socket: the X Protocol (MySQL Shell, port 33060) waits for the client to speak first',
      fix: 'probe the classic protocol socket (mysqld.sock) for the server\'s health; --connect-only tells this socket is alive',
    },
    {
      code: 'MYSQL_NOT_MYSQL',
      severity: 'CRITICAL',
      title: 'not a MySQL server',
      cause: 'the first packet was neither a protocol 10 greeting nor an ERR packet',
      fix: 'check that the path is mysqld\'s socket (its socket= setting), or probe with the protocol it speaks',
    },
  ],
};
