/**
 * The PostgreSQL, MySQL, ssh-agent, D-Bus and gRPC services' pure parts: their
 * framers split at every byte, and their judges on replies a real daemon
 * seldom sends on demand (starting up, host blocked, agent failure, ...).
 * The real daemons are in service-checks.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { FRAME_ERROR } from '../src/core/framing/index.js';
import { createFramer } from '../src/core/framing/index.js';
import { DBUS_MESSAGE, authExternal, helloMessage, judgeSasl, parseMessage } from '../src/core/service/dbus.js';
import { healthCheckRequest, judgeCall, looksLikeH2Settings, parseHealthResponse } from '../src/core/service/grpc.js';
import { MYSQL_PACKET, judgeFirstPacket, mysql } from '../src/core/service/mysql.js';
import { recogniseWithoutIo } from '../src/core/service/index.js';
import { PG_MESSAGE, errorFields, judgeError, startupMessage } from '../src/core/service/postgresql.js';
import { parseIdentities, sshAgent } from '../src/core/service/ssh-agent.js';
import type { ServiceReply } from '../src/core/service/types.js';
import { framerEnds } from './helpers/framing.js';

/** A PostgreSQL backend message. */
function pg(type: string, body: Buffer | string): Buffer {
  const b = Buffer.from(body);
  const m = Buffer.alloc(5 + b.length);
  m.write(type, 0, 'latin1');
  m.writeUInt32BE(4 + b.length, 1);
  b.copy(m, 5);
  return m;
}
const pgError = (fields: Record<string, string>) => pg('E', `${Object.entries(fields).map(([k, v]) => `${k}${v}\0`).join('')}\0`);

/** A MySQL packet with sequence 0. */
function my(payload: Buffer): Buffer {
  const h = Buffer.from([payload.length & 0xff, (payload.length >> 8) & 0xff, payload.length >> 16, 0]);
  return Buffer.concat([h, payload]);
}

/** What MariaDB 10.11 sent on connect (recorded from the real server). */
const MARIADB_GREETING = Buffer.from(
  '640000000a352e352e352d31302e31312e31392d4d6172696144422d302b646562313275310003000000625e31772757616300fef7080200ff81150000000000001d0000004d376a3258463677776f4a5f006d7973716c5f6e61746976655f70617373776f726400',
  'hex',
);

/** What a python3-grpcio server sent on accept: SETTINGS, then a WINDOW_UPDATE (recorded). */
const GRPC_PREFACE = Buffer.from('000018040000000000000400003fffff0005003fffff00060000200000fe0300000001000004080000000000003f0000', 'hex');

const reply = (bytes: Buffer): ServiceReply => ({ bytes, status: 0, failed: false, truncated: false });

describe('length framers', () => {
  const cuts = (n: number) => Array.from({ length: n + 1 }, (_, i) => i);
  it('PostgreSQL messages end where their length says, split anywhere', () => {
    const stream = Buffer.concat([pg('R', Buffer.from([0, 0, 0, 0])), pg('S', 'server_version\x0015.1\0'), pg('Z', 'I')]);
    const ends = [9, 9 + 25, stream.length];
    for (const c of cuts(stream.length)) expect(framerEnds(createFramer(PG_MESSAGE), stream, [c])).toEqual(ends);
    // A length below 4 cannot be (it counts itself).
    expect(framerEnds(createFramer(PG_MESSAGE), Buffer.from('E\0\0\0\x02'), [])).toEqual([FRAME_ERROR]);
  });
  it('MySQL packets: 3-byte little-endian length and a sequence byte', () => {
    const stream = Buffer.concat([MARIADB_GREETING, my(Buffer.from([0xff, 0x10, 0x04]))]);
    for (const c of cuts(stream.length)) expect(framerEnds(createFramer(MYSQL_PACKET), stream, [c])).toEqual([MARIADB_GREETING.length, stream.length]);
    // A peer's length is bounded: 16 MiB is refused before a byte of it is read.
    expect(framerEnds(createFramer(MYSQL_PACKET), Buffer.from([0xff, 0xff, 0xff, 0]), [])).toEqual([FRAME_ERROR]);
  });
  it('D-Bus messages: the fixed header, the fields padded to 8, the body', () => {
    const hello = helloMessage();
    expect(framerEnds(createFramer(DBUS_MESSAGE), Buffer.concat([hello, hello]), [5, 40])).toEqual([hello.length, 2 * hello.length]);
    expect(framerEnds(createFramer(DBUS_MESSAGE), Buffer.from('x'.repeat(16)), [])).toEqual([FRAME_ERROR]);
  });
});

describe('postgresql judge (PQping semantics)', () => {
  const judge = (f: Record<string, string>) => judgeError(errorFields(pgError(f).subarray(5)), 'postgres');
  it('57P03 is rejecting, named by what the server says', () => {
    expect(judge({ S: 'FATAL', C: '57P03', M: 'the database system is starting up' })).toMatchObject({ code: 'PG_STARTING_UP', details: { pgIsReady: 'rejecting' } });
    expect(judge({ S: 'FATAL', C: '57P03', M: 'the database system is shutting down' }).code).toBe('PG_SHUTTING_DOWN');
    expect(judge({ S: 'FATAL', C: '57P03', M: 'the database system is not yet accepting connections', D: 'Consistent recovery state has not been yet reached.' }).code).toBe(
      'PG_IN_RECOVERY',
    );
  });
  it('any other SQLSTATE is accepting; none at all is no response', () => {
    expect(judge({ S: 'FATAL', C: '28P01', M: 'password authentication failed for user "postgres"' })).toMatchObject({ code: 'OK', details: { pgIsReady: 'accepting', sqlstate: '28P01' } });
    expect(judge({ S: 'FATAL', C: '53300', M: 'sorry, too many clients already' })).toMatchObject({ code: 'PG_TOO_MANY_CLIENTS', details: { pgIsReady: 'accepting' } });
    expect(judge({ M: 'no sqlstate' })).toMatchObject({ code: 'PG_NO_RESPONSE', details: { pgIsReady: 'no response' } });
  });
  it('the startup message is protocol 3.0 with the user and database named', () => {
    const m = startupMessage('postgres', 'postgres');
    expect([m.readInt32BE(0), m.readInt32BE(4)]).toEqual([m.length, 196608]);
    expect(m.subarray(8).toString()).toBe('user\0postgres\0database\0postgres\0application_name\0udsctl-probe\0\0');
  });
});

describe('mysql judge', () => {
  it("a MariaDB greeting: version, connection id, auth plugin; the banner recogniser knows it", () => {
    expect(judgeFirstPacket(MARIADB_GREETING)).toMatchObject({
      code: 'OK',
      details: { version: '5.5.5-10.11.19-MariaDB-0+deb12u1', connectionId: 3, authPlugin: 'mysql_native_password', mysqladminPing: 'alive' },
    });
    expect(mysql.recognise.banner!(MARIADB_GREETING)).toBe(true);
    expect(mysql.recognise.banner!(GRPC_PREFACE)).toBe(false);
  });
  it('ERR packets instead of a greeting, with or without a SQLSTATE', () => {
    const err = (code: number, text: string) => my(Buffer.concat([Buffer.from([0xff, code & 0xff, code >> 8]), Buffer.from(text)]));
    expect(judgeFirstPacket(err(1040, 'Too many connections'))).toMatchObject({ code: 'MYSQL_TOO_MANY_CONNECTIONS', details: { error: 1040 } });
    expect(judgeFirstPacket(err(1129, "#HY000Host '10.0.0.9' is blocked because of many connection errors"))).toMatchObject({
      code: 'MYSQL_HOST_BLOCKED',
      details: { sqlstate: 'HY000', message: "Host '10.0.0.9' is blocked because of many connection errors" },
    });
    expect(judgeFirstPacket(err(1130, "Host 'x' is not allowed to connect")).code).toBe('MYSQL_HOST_NOT_ALLOWED');
    expect(judgeFirstPacket(my(Buffer.from('HTTP/1.1 400')))).toMatchObject({ code: 'MYSQL_NOT_MYSQL' });
  });
});

describe('ssh-agent judge', () => {
  const str = (b: Buffer | string) => {
    const v = Buffer.from(b);
    const l = Buffer.alloc(4);
    l.writeUInt32BE(v.length);
    return Buffer.concat([l, v]);
  };
  const msg = (type: number, body: Buffer) => {
    const h = Buffer.alloc(5);
    h.writeUInt32BE(body.length + 1);
    h[4] = type;
    return Buffer.concat([h, body]);
  };
  const judge = (m: Buffer) => (sshAgent.check as unknown as { judge(r: ServiceReply): { code: string; details?: Record<string, unknown> } }).judge(reply(m));
  it('SSH_AGENT_FAILURE is named', () => {
    expect(judge(msg(5, Buffer.alloc(0))).code).toBe('AGENT_FAILURE');
    expect(judge(msg(6, Buffer.alloc(0))).code).toBe('AGENT_UNEXPECTED');
  });
  it('a count larger than the keys sent: the count is told, the keys that came are listed', () => {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(3);
    const body = Buffer.concat([count, str(Buffer.concat([str('ssh-ed25519'), Buffer.alloc(36)])), str('only one')]);
    expect(parseIdentities(body)).toMatchObject({ count: 3, keys: [{ type: 'ssh-ed25519', comment: 'only one' }] });
    expect(judge(msg(12, body))).toMatchObject({ code: 'OK', details: { keys: 3 } });
  });
});

describe('dbus', () => {
  it('AUTH EXTERNAL carries the uid as hex of its decimal digits', () => {
    expect(authExternal(1000).toString('latin1')).toBe('\0AUTH EXTERNAL 31303030\r\n');
  });
  it('SASL answers: OK with a guid, REJECTED (a warning when ANONYMOUS is offered), other text', () => {
    expect(judgeSasl(Buffer.from('OK 0123456789abcdef0123456789abcdef\r\n'), 5).code).toBe('OK');
    expect(judgeSasl(Buffer.from('REJECTED EXTERNAL DBUS_COOKIE_SHA1\r\n'), 5)).toMatchObject({ code: 'DBUS_REJECTED', details: { mechanisms: 'EXTERNAL DBUS_COOKIE_SHA1' } });
    expect(judgeSasl(Buffer.from('REJECTED EXTERNAL DBUS_COOKIE_SHA1\r\n'), 5).severity).toBeUndefined();
    expect(judgeSasl(Buffer.from('REJECTED ANONYMOUS\r\n'), 5).severity).toBe('WARNING');
    expect(judgeSasl(Buffer.from('HTTP/1.1 400 Bad Request\r\n'), 5).code).toBe('DBUS_NOT_DBUS');
  });
  it('Hello is a method call that parses back', () => {
    expect(parseMessage(helloMessage()).type).toBe(1);
  });
});

describe('grpc', () => {
  it('HealthCheckRequest and HealthCheckResponse by hand', () => {
    expect(healthCheckRequest('')).toEqual(Buffer.from([0, 0, 0, 0, 0]));
    expect(healthCheckRequest('ab')).toEqual(Buffer.from([0, 0, 0, 0, 4, 0x0a, 2, 0x61, 0x62]));
    expect(healthCheckRequest('x'.repeat(200)).subarray(5, 8)).toEqual(Buffer.from([0x0a, 0xc8, 0x01]));
    expect(parseHealthResponse(Buffer.from([0x08, 0x02]))).toBe(2);
    // Unknown fields are skipped; a missing status is proto3's default, UNKNOWN.
    expect(parseHealthResponse(Buffer.from([0x12, 0x01, 0x41, 0x08, 0x01]))).toBe(1);
    expect(parseHealthResponse(Buffer.alloc(0))).toBe(0);
  });
  it('an HTTP/2 answer without grpc-status is not gRPC; UNKNOWN is a warning of its own', () => {
    // node:http2 gives :status as a number, which its header type does not say.
    const h = (o: Record<string, string | number>) => o as never;
    expect(judgeCall({ headers: h({ ':status': 404 }), body: Buffer.alloc(0) }, '').code).toBe('GRPC_NOT_GRPC');
    const ok = (status: number) => ({ headers: h({ ':status': 200 }), trailers: { 'grpc-status': '0' }, body: Buffer.from([0, 0, 0, 0, 2, 0x08, status]) });
    expect(judgeCall(ok(0), '').code).toBe('GRPC_STATUS_UNKNOWN');
    expect(judgeCall({ headers: h({ ':status': 200, 'grpc-status': '14', 'grpc-message': 'no%20backend' }), body: Buffer.alloc(0) }, '')).toMatchObject({
      code: 'GRPC_ERROR',
      details: { grpcStatus: 'UNAVAILABLE', grpcMessage: 'no backend' },
    });
  });
  it("an HTTP/2 server's SETTINGS is recognised; a MySQL greeting is not", () => {
    expect(looksLikeH2Settings(GRPC_PREFACE)).toBe(true);
    expect(looksLikeH2Settings(MARIADB_GREETING)).toBe(false);
  });
});

describe('recognition without I/O', () => {
  const by = (f: Parameters<typeof recogniseWithoutIo>[0]) => {
    const r = recogniseWithoutIo(f);
    return r ? `${r.service.name} by ${r.by}` : null;
  };
  it('well-known paths', () => {
    expect(by({ path: '/var/run/postgresql/.s.PGSQL.5432' })).toBe('postgresql by path');
    expect(by({ path: '/run/mysqld/mysqld.sock' })).toBe('mysql by path');
    expect(by({ path: '/tmp/ssh-XXXXa1b2c3/agent.4242' })).toBe('ssh-agent by path');
    expect(by({ path: '/run/user/1000/gnupg/S.gpg-agent.ssh' })).toBe('ssh-agent by path');
    expect(by({ path: '/run/dbus/system_bus_socket' })).toBe('dbus by path');
    expect(by({ path: '/run/user/1000/bus' })).toBe('dbus by path');
    expect(by({ path: '/run/containerd/containerd.sock' })).toBe('grpc by path');
    // containerd's ttrpc socket beside it is not gRPC.
    expect(by({ path: '/run/containerd/containerd.sock.ttrpc' })).toBeNull();
  });
  it('$SSH_AUTH_SOCK names the agent wherever it is', () => {
    expect(by({ path: '/home/u/.1password/agent.sock', env: { SSH_AUTH_SOCK: '/home/u/.1password/agent.sock' } })).toBe('ssh-agent by path');
    expect(by({ path: '/home/u/.1password/agent.sock', env: {} })).toBeNull();
  });
  it('listening processes', () => {
    const p = (name: string, cmdline = name) => ({ processes: [{ pid: 4242, name, cmdline }] });
    expect(by(p('postgres', '/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main'))).toBe('postgresql by process');
    expect(by(p('mariadbd'))).toBe('mysql by process');
    expect(by(p('mysqld'))).toBe('mysql by process');
    expect(by(p('ssh-agent', 'ssh-agent -s'))).toBe('ssh-agent by process');
    expect(by(p('dbus-daemon', 'dbus-daemon --system'))).toBe('dbus by process');
    expect(by(p('dbus-broker-lau', '/usr/bin/dbus-broker-launch --scope user'))).toBe('dbus by process');
  });
});
