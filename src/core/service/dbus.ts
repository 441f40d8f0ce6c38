/**
 * D-Bus (dbus-daemon, dbus-broker, and peer-to-peer D-Bus servers): the
 * connection starts with a NUL byte and a SASL exchange in lines. udsctl
 * claims its own uid with `AUTH EXTERNAL <uid in hex>` (the kernel's
 * SO_PEERCRED backs the claim); the bus answers `OK <server guid>` (it
 * accepts who we are) or `REJECTED <mechanisms>`.
 *
 * A bus decides whether that uid may connect only at BEGIN (dbus-daemon's
 * session bus lets in its own user; a policy may allow others), and drops the
 * connection then: so after OK udsctl sends BEGIN and Hello, as every client
 * does first, and reads Hello's reply (the unique name it was given). Hello
 * is the least a client can do: the name is released when udsctl closes, and
 * no method of any service is called.
 */
import { UdsError } from '../errors.js';
import type { EndRule } from '../framing/end-rule.js';
import { lengthRule } from '../framing/length-framer.js';
import type { CheckContext, Conversation, Service, Verdict } from './types.js';

/** SASL lines end in \r\n; the line rule ends at the \n. */
const SASL_LINE: EndRule = { kind: 'line' };

/** The first message: the credentials byte (NUL), then AUTH EXTERNAL with the uid as ASCII decimal, hex-encoded. */
export function authExternal(uid: number): Buffer {
  return Buffer.from(`\0AUTH EXTERNAL ${Buffer.from(String(uid), 'ascii').toString('hex')}\r\n`, 'latin1');
}

const align8 = (n: number) => (n + 7) & ~7;

/** Largest message accepted in reply to Hello (a unique name; the bus's limit is 128 MiB, ours far less). */
const MAX_MESSAGE = 64 * 1024;

/** A D-Bus message: a 16-byte fixed header (endianness, type, flags, version, body length, serial, fields length), the fields padded to 8, the body. */
export const DBUS_MESSAGE = lengthRule({
  name: 'dbus message',
  size: 16,
  bodyLength: (h) => {
    const le = h[0] === 0x6c;
    if (!le && h[0] !== 0x42) return -1;
    const u32 = (i: number) => (le ? (h[i] | (h[i + 1] << 8) | (h[i + 2] << 16) | (h[i + 3] << 24)) >>> 0 : ((h[i] << 24) | (h[i + 1] << 16) | (h[i + 2] << 8) | h[i + 3]) >>> 0);
    return align8(u32(12)) + u32(4);
  },
  max: MAX_MESSAGE,
});

/** The Hello method call to org.freedesktop.DBus (little-endian, serial 1, no body). */
export function helloMessage(): Buffer {
  const fields: Buffer[] = [];
  const field = (code: number, sig: 'o' | 's', value: string) => {
    const v = Buffer.from(value, 'utf8');
    // code, signature (length 1, the type, NUL), pad to 4, uint32 length, the string, NUL; each field starts 8-aligned.
    const f = Buffer.alloc(align8(8 + v.length + 1));
    f[0] = code;
    f[1] = 1;
    f[2] = sig.charCodeAt(0);
    f.writeUInt32LE(v.length, 4);
    v.copy(f, 8);
    fields.push(f);
    return 8 + v.length + 1;
  };
  const lens = [field(1, 'o', '/org/freedesktop/DBus'), field(6, 's', 'org.freedesktop.DBus'), field(2, 's', 'org.freedesktop.DBus'), field(3, 's', 'Hello')];
  // The fields array's length excludes the last field's padding.
  const arrayLen = fields.slice(0, -1).reduce((n, f) => n + f.length, 0) + lens[lens.length - 1];
  const head = Buffer.alloc(16);
  head.write('l', 0, 'latin1');
  head[1] = 1; // METHOD_CALL
  head[3] = 1; // protocol version
  head.writeUInt32LE(0, 4); // body length
  head.writeUInt32LE(1, 8); // serial
  head.writeUInt32LE(arrayLen, 12);
  return Buffer.concat([head, ...fields]);
}

/** A message's type (1 call, 2 return, 3 error, 4 signal) and its body's first string (Hello's name, an error's text), if any. */
export function parseMessage(m: Buffer): { type: number; text?: string } {
  const le = m[0] === 0x6c;
  const u32 = (i: number) => (le ? m.readUInt32LE(i) : m.readUInt32BE(i));
  const body = 16 + align8(u32(12));
  if (m.length < body + 4) return { type: m[1] };
  const n = u32(body);
  return { type: m[1], text: m.subarray(body + 4, Math.min(m.length, body + 4 + n)).toString('utf8') };
}

/** Judge the bus's answer to AUTH EXTERNAL (one SASL line). */
export function judgeSasl(lineBytes: Buffer, uid: number): Verdict {
  const text = lineBytes.toString('utf8').replace(/\r?\n$/, '');
  const [word, ...rest] = text.split(' ');
  const arg = rest.join(' ');
  if (word === 'OK' && /^[0-9a-fA-F]{32}$/.test(arg)) {
    return { code: 'OK', summary: `the bus accepted AUTH EXTERNAL for uid ${uid} (server guid ${arg})`, details: { auth: 'accepted', uid, guid: arg } };
  }
  if (word === 'REJECTED') {
    const offered = arg || 'none';
    // libdbus clients fall back to ANONYMOUS when offered: they still connect.
    const anonymous = arg.split(' ').includes('ANONYMOUS');
    return {
      code: 'DBUS_REJECTED',
      ...(anonymous ? { severity: 'WARNING' as const } : {}),
      summary: `the bus rejected AUTH EXTERNAL for uid ${uid}; it offers: ${offered}${anonymous ? ' (clients may connect anonymously)' : ''}`,
      details: { auth: 'rejected', uid, mechanisms: offered },
    };
  }
  if (word === 'ERROR') return { code: 'DBUS_ERROR', summary: `the bus answered AUTH EXTERNAL with ERROR${arg ? `: ${arg}` : ''}`, details: { auth: 'error', uid } };
  return { code: 'DBUS_NOT_DBUS', summary: `an answer to AUTH EXTERNAL that is not D-Bus SASL: ${JSON.stringify(text.slice(0, 80))}`, details: { uid } };
}

/** Hello's reply: the unique name (accepted), or an error. */
export function judgeHello(m: Buffer, sasl: Verdict): Verdict {
  const { type, text } = parseMessage(m);
  if (type === 2 && text) {
    return { code: 'OK', summary: `the bus accepted uid ${sasl.details?.uid} and named us ${text} (Hello)`, details: { ...sasl.details, uniqueName: text } };
  }
  return {
    code: 'DBUS_HELLO_FAILED',
    summary: `the bus answered Hello with ${type === 3 ? `an error${text ? `: ${text}` : ''}` : `a message of type ${type}`}`,
    details: { ...sasl.details, helloReplyType: type },
  };
}

async function check(conv: Conversation, ctx: CheckContext): Promise<Verdict> {
  const reply = await conv.ask(authExternal(ctx.uid), SASL_LINE);
  const sasl = judgeSasl(reply.bytes, ctx.uid);
  if (sasl.code !== 'OK') return sasl;
  try {
    let m = (await conv.ask(Buffer.concat([Buffer.from('BEGIN\r\n'), helloMessage()]), DBUS_MESSAGE)).bytes;
    // A signal may come first (NameAcquired comes after the reply, but a bus may differ): a few at most.
    for (let n = 0; n < 4 && m[1] === 4; n++) m = (await conv.read(DBUS_MESSAGE)).bytes;
    return judgeHello(m, sasl);
  } catch (e) {
    if (!(e instanceof UdsError) || (e.code !== 'CLOSED_EARLY' && e.code !== 'RESET')) throw e;
    return {
      code: 'DBUS_NOT_ALLOWED',
      summary: `the bus accepted uid ${ctx.uid}'s credentials, then closed the connection at BEGIN: its policy does not let this uid connect`,
      details: { ...sasl.details, auth: 'accepted', connect: 'refused' },
    };
  }
}

export const dbus: Service = {
  name: 'dbus',
  title: 'D-Bus',
  socketTypes: ['stream'],
  recognise: {
    // comm is cut to 15 characters: dbus-broker-launch shows as dbus-broker-lau.
    process: /^dbus-(daemon|broker)/,
    // The system bus, a user's session bus under /run/user/UID, an old-style /tmp/dbus-XXXXXXXXXX.
    path: /(\/system_bus_socket|\/run\/user\/\d+\/bus|\/dbus-[A-Za-z0-9]{8,})$/,
  },
  check: { kind: 'dialogue', run: check },
  findings: [
    {
      code: 'DBUS_REJECTED',
      severity: 'CRITICAL',
      title: 'the bus rejected our uid',
      cause: 'REJECTED to AUTH EXTERNAL: the bus does not offer EXTERNAL, or the uid claimed is not the one the kernel reports (across a user namespace); a WARNING when it offers ANONYMOUS',
      fix: "connect as the bus's user (a session bus is its user's), or allow the mechanism/user in the bus's <auth> and <policy> config",
    },
    {
      code: 'DBUS_NOT_ALLOWED',
      severity: 'CRITICAL',
      title: 'the bus does not let our uid in',
      cause: 'OK to AUTH EXTERNAL, then the bus closed at BEGIN: a session bus lets in only its own user, unless its <policy> allows others',
      fix: "connect as the bus's user, or allow this user in the bus's config (<allow user=...> in a policy)",
    },
    {
      code: 'DBUS_HELLO_FAILED',
      severity: 'CRITICAL',
      title: 'the bus refused Hello',
      cause: 'the bus answered the Hello every client sends first with an error (too many connections for this uid, a broken bus)',
      fix: "read the error shown and the bus's log (journalctl -u dbus)",
    },
    {
      code: 'DBUS_ERROR',
      severity: 'CRITICAL',
      title: 'the bus answered ERROR',
      cause: 'the bus could not parse the AUTH command: an old or unusual D-Bus server',
      fix: "read the bus's log (journalctl -u dbus) for the reason",
    },
    {
      code: 'DBUS_NOT_DBUS',
      severity: 'CRITICAL',
      title: 'not a D-Bus server',
      cause: 'the answer to AUTH EXTERNAL was not OK, REJECTED or ERROR',
      fix: 'check that the path is a D-Bus socket (system_bus_socket, $XDG_RUNTIME_DIR/bus), or probe with the protocol it speaks',
    },
  ],
};
