/**
 * PostgreSQL: what pg_isready reports, the way libpq's PQping decides it
 * (src/interfaces/libpq/fe-connect.c, internal_ping): a StartupMessage
 * (protocol 3.0) and the server's first answers. Any authentication request
 * means the server is up and accepting: udsctl never answers one (no password
 * is sent, ever) and closes. An ErrorResponse with SQLSTATE 57P03
 * (cannot_connect_now: starting up, shutting down, in recovery) is
 * "rejecting"; any other SQLSTATE (no such role 28000, bad password 28P01,
 * too many clients 53300, ...) still means the server answered, so pg_isready
 * says "accepting". No answer at all is "no response", judged by probe's
 * generic findings (SILENT, CLOSED_WITHOUT_REPLY, REFUSED, ...).
 *
 * Under trust authentication the server logs the session in at once; udsctl
 * then reads up to ReadyForQuery (learning the server's version) and sends
 * Terminate: a session that ran no query changes nothing.
 */
import { lengthRule } from '../framing/length-framer.js';
import type { CheckContext, Conversation, Service, Verdict } from './types.js';

/** Protocol 3.0: major 3 in the high 16 bits. */
const PROTOCOL_3_0 = 3 << 16;
/** A backend message's body is small before login (errors, parameters); 1 MiB is plenty. */
const MAX_MESSAGE = 1 << 20;
/** Messages read at most before the verdict (a server that streams NoticeResponses forever is cut short). */
const MAX_MESSAGES = 64;

/** A backend message: a type byte, then an Int32 length that counts itself but not the type byte. */
export const PG_MESSAGE = lengthRule({
  name: 'postgresql message',
  size: 5,
  bodyLength: (h) => {
    const n = ((h[1] << 24) | (h[2] << 16) | (h[3] << 8) | h[4]) >>> 0;
    return n < 4 ? -1 : n - 4;
  },
  max: MAX_MESSAGE,
});

/** The user the startup message names when `--as postgresql:USER` does not: the one pg_isready's scripts use. */
export const PG_DEFAULT_USER = 'postgres';

/** StartupMessage: Int32 length, Int32 protocol, then name/value C strings and a final NUL. */
export function startupMessage(user: string, database: string): Buffer {
  const params = Buffer.from(`user\0${user}\0database\0${database}\0application_name\0udsctl-probe\0\0`, 'utf8');
  const m = Buffer.alloc(8 + params.length);
  m.writeInt32BE(m.length, 0);
  m.writeInt32BE(PROTOCOL_3_0, 4);
  params.copy(m, 8);
  return m;
}

/** Terminate: 'X', length 4. */
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);

/** The fields of an ErrorResponse / NoticeResponse body: a type byte and a C string each, a NUL at the end. */
export function errorFields(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const type = String.fromCharCode(body[i]);
    const end = body.indexOf(0, i + 1);
    if (end < 0) break;
    out[type] = body.subarray(i + 1, end).toString('utf8');
    i = end + 1;
  }
  return out;
}

/** The authentication methods of AuthenticationRequest codes (the ones a server asks for before login). */
const AUTH_METHODS: Record<number, string> = {
  2: 'Kerberos V5',
  3: 'a cleartext password',
  5: 'an MD5 password',
  7: 'GSSAPI',
  9: 'SSPI',
  10: 'SASL (SCRAM)',
};

/** What 57P03's message says the server is doing: starting up, shutting down, or in recovery (a standby). */
function rejectCode(message: string): string {
  if (/starting up/i.test(message)) return 'PG_STARTING_UP';
  if (/shutting down/i.test(message)) return 'PG_SHUTTING_DOWN';
  return 'PG_IN_RECOVERY';
}

/** Judge an ErrorResponse as PQping would, naming the state in PostgreSQL's terms. */
export function judgeError(f: Record<string, string>, user: string): Verdict {
  const sqlstate = f.C ?? '';
  const message = f.M ?? '';
  const said = `${message}${f.D ? ` (${f.D})` : ''}`;
  const details: Record<string, string> = { pgIsReady: 'accepting', sqlstate, message };
  if (f.D) details.detail = f.D;
  if (sqlstate.length !== 5) {
    // A pre-7.4 server or a fork failure: no SQLSTATE, which PQping takes as no response.
    return { code: 'PG_NO_RESPONSE', summary: `an error without a SQLSTATE: ${said}`, details: { ...details, pgIsReady: 'no response' } };
  }
  if (sqlstate === '57P03') {
    return { code: rejectCode(`${message} ${f.D ?? ''}`), summary: `rejecting connections: ${said} (SQLSTATE 57P03)`, details: { ...details, pgIsReady: 'rejecting' } };
  }
  if (sqlstate === '53300') {
    return { code: 'PG_TOO_MANY_CLIENTS', summary: `accepting, but full: ${said} (SQLSTATE 53300)`, details };
  }
  // 28000 (no such role, no pg_hba.conf entry), 28P01 (bad password), 3D000 (no such database), ...:
  // the server is up and judged the request, as pg_isready says.
  return { code: 'OK', summary: `accepting connections (it refused user ${user}: ${said}, SQLSTATE ${sqlstate})`, details };
}

async function check(conv: Conversation, ctx: CheckContext): Promise<Verdict> {
  const user = ctx.arg || PG_DEFAULT_USER;
  let reply = await conv.ask(startupMessage(user, 'postgres'), PG_MESSAGE);
  const params: Record<string, string> = {};
  let loggedIn = false;
  for (let n = 0; n < MAX_MESSAGES; n++) {
    const m = reply.bytes;
    const type = String.fromCharCode(m[0]);
    const body = m.subarray(5);
    if (type === 'E') return judgeError(errorFields(body), user);
    if (type === 'R') {
      const code = body.length >= 4 ? body.readInt32BE(0) : -1;
      if (code !== 0) {
        // An authentication request: the server is up (PQping's auth_req_received). Never answered.
        const method = AUTH_METHODS[code] ?? `authentication method ${code}`;
        return { code: 'OK', summary: `accepting connections (asks user ${user} for ${method}; not answered)`, details: { pgIsReady: 'accepting', auth: method } };
      }
      loggedIn = true;
    } else if (type === 'S') {
      const [name, value] = body.toString('utf8').split('\0');
      if (name === 'server_version') params.serverVersion = value;
    } else if (type === 'Z') {
      break;
    } else if (type !== 'K' && type !== 'N' && type !== 'v') {
      return { code: 'PG_NOT_POSTGRES', summary: `a message of type ${JSON.stringify(type)} where PostgreSQL answers a startup with R or E`, details: { firstByte: m[0] } };
    }
    reply = await conv.read(PG_MESSAGE);
  }
  if (loggedIn) await conv.write(TERMINATE).catch(() => {});
  const how = [params.serverVersion ? `server ${params.serverVersion}` : '', loggedIn ? `user ${user} logged in without a password, closed with Terminate` : ''].filter(Boolean);
  return {
    code: 'OK',
    summary: `accepting connections${how.length ? ` (${how.join('; ')})` : ''}`,
    details: { pgIsReady: 'accepting', ...params },
  };
}

export const postgresql: Service = {
  name: 'postgresql',
  title: 'PostgreSQL',
  socketTypes: ['stream'],
  recognise: {
    process: /^(postgres|postmaster)$/,
    path: /\/\.s\.PGSQL\.\d+$/,
  },
  check: { kind: 'dialogue', run: check },
  arg: { name: 'USER', means: 'the user in the startup message (default: postgres); never a password' },
  findings: [
    {
      code: 'PG_STARTING_UP',
      severity: 'CRITICAL',
      title: 'PostgreSQL is starting up',
      cause: 'the server answered 57P03 "the database system is starting up" (pg_isready: rejecting connections): crash recovery or a slow start is running',
      fix: 'wait for "database system is ready to accept connections" in its log; if it lasts, read the log for the recovery it is replaying',
    },
    {
      code: 'PG_SHUTTING_DOWN',
      severity: 'CRITICAL',
      title: 'PostgreSQL is shutting down',
      cause: 'the server answered 57P03 "the database system is shutting down" (pg_isready: rejecting connections): a smart shutdown waits for the sessions still open',
      fix: 'let it finish or end the remaining sessions (pg_ctl stop -m fast); then start it again if it was not meant to stop',
    },
    {
      code: 'PG_IN_RECOVERY',
      severity: 'CRITICAL',
      title: 'PostgreSQL refuses clients in recovery',
      cause: 'the server answered 57P03 (pg_isready: rejecting connections): a standby with hot_standby off, or recovery not yet consistent',
      fix: 'set hot_standby = on to let clients in during recovery, or wait until recovery reaches a consistent state (see its log)',
    },
    {
      code: 'PG_TOO_MANY_CLIENTS',
      severity: 'WARNING',
      title: 'PostgreSQL has no free connection slot',
      cause: 'the server answered 53300 "sorry, too many clients already": every max_connections slot is taken (pg_isready still says accepting)',
      fix: 'find idle sessions (pg_stat_activity) and close them, pool connections (pgbouncer), or raise max_connections',
    },
    {
      code: 'PG_NO_RESPONSE',
      severity: 'CRITICAL',
      title: 'PostgreSQL answered without a SQLSTATE',
      cause: 'an error with no SQLSTATE: a server older than 7.4, or it could not fork a backend (pg_isready: no response)',
      fix: "read the server's log around this time (out of memory or processes?)",
    },
    {
      code: 'PG_NOT_POSTGRES',
      severity: 'CRITICAL',
      title: 'not a PostgreSQL server',
      cause: 'the reply to a StartupMessage was not an authentication request, an error or a login',
      fix: 'check that the path is PostgreSQL\'s socket (.s.PGSQL.PORT in its unix_socket_directories), or probe with the protocol it speaks',
    },
  ],
};
