/**
 * Sockets that only listen: sd_notify ($NOTIFY_SOCKET), journald's sockets,
 * syslog's /dev/log. Anything sent would be a message in their log or a state
 * change (READY=1), so the check is connect(2) alone: it says the receiver is
 * there and takes connections or datagrams.
 */
import type { Service } from './types.js';

export const listenOnly: Service = {
  name: 'listen-only',
  title: 'a listen-only socket (sd_notify, journald, syslog)',
  socketTypes: ['dgram', 'stream', 'seqpacket'],
  recognise: {
    // journald, syslog and systemd's notify socket are rows of known-sockets.ts that speak listen-only.
    path: /(^|\/)notify[^/]*\.sock$/,
    socketType: 'dgram',
  },
  check: { kind: 'connect' },
  findings: [],
};
