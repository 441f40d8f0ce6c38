/**
 * D-Bus (dbus-daemon, dbus-broker, and peer-to-peer D-Bus servers): the
 * connection starts with a NUL byte and a SASL exchange in lines. udsctl
 * claims its own uid with `AUTH EXTERNAL <uid in hex>` (the kernel's
 * SO_PEERCRED backs the claim); the bus answers `OK <server guid>` (it
 * accepts who we are) or `REJECTED <mechanisms>`. udsctl closes there,
 * before BEGIN: no Hello, so no name is assigned and nothing is broadcast.
 * Whether the bus's policy then lets this uid send messages is past that
 * point (dbus-daemon decides it at BEGIN), and not checked.
 */
import type { EndRule } from '../framing/end-rule.js';
import type { CheckContext, Conversation, Service, Verdict } from './types.js';

/** SASL lines end in \r\n; the line rule ends at the \n. */
const SASL_LINE: EndRule = { kind: 'line' };

/** The first message: the credentials byte (NUL), then AUTH EXTERNAL with the uid as ASCII decimal, hex-encoded. */
export function authExternal(uid: number): Buffer {
  return Buffer.from(`\0AUTH EXTERNAL ${Buffer.from(String(uid), 'ascii').toString('hex')}\r\n`, 'latin1');
}

/** Judge the bus's answer to AUTH EXTERNAL (one SASL line). */
export function judgeSasl(lineBytes: Buffer, uid: number): Verdict {
  const text = lineBytes.toString('utf8').replace(/\r?\n$/, '');
  const [word, ...rest] = text.split(' ');
  const arg = rest.join(' ');
  if (word === 'OK' && /^[0-9a-fA-F]{32}$/.test(arg)) {
    return { code: 'OK', summary: `the bus accepted AUTH EXTERNAL for uid ${uid} (server guid ${arg}); closed before BEGIN`, details: { auth: 'accepted', uid, guid: arg } };
  }
  if (word === 'REJECTED') {
    const offered = arg || 'none';
    return {
      code: 'DBUS_REJECTED',
      summary: `the bus rejected AUTH EXTERNAL for uid ${uid}; it offers: ${offered}`,
      details: { auth: 'rejected', uid, mechanisms: offered },
    };
  }
  if (word === 'ERROR') return { code: 'DBUS_ERROR', summary: `the bus answered AUTH EXTERNAL with ERROR${arg ? `: ${arg}` : ''}`, details: { auth: 'error', uid } };
  return { code: 'DBUS_NOT_DBUS', summary: `an answer to AUTH EXTERNAL that is not D-Bus SASL: ${JSON.stringify(text.slice(0, 80))}`, details: { uid } };
}

async function check(conv: Conversation, ctx: CheckContext): Promise<Verdict> {
  const reply = await conv.ask(authExternal(ctx.uid), SASL_LINE);
  return judgeSasl(reply.bytes, ctx.uid);
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
      cause: 'REJECTED to AUTH EXTERNAL: the bus does not offer EXTERNAL, or does not accept this uid (a session bus of another user; root across a user namespace)',
      fix: "connect as the bus's user (a session bus is its user's), or allow the mechanism/user in the bus's <auth> and <policy> config",
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
