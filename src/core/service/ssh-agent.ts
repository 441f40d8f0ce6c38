/**
 * ssh-agent (OpenSSH's, and agents that speak its protocol: gpg-agent's ssh
 * socket, gnome-keyring, 1Password): SSH_AGENTC_REQUEST_IDENTITIES (11) is
 * answered SSH_AGENT_IDENTITIES_ANSWER (12) with every key's blob and
 * comment, which is what `ssh-add -l` lists. A read-only request: nothing is
 * signed, added or removed. Fingerprints are computed as ssh-add shows them
 * (SHA256 of the key blob, base64 without padding).
 */
import type { createHash as CreateHash } from 'node:crypto';
import { createRequire } from 'node:module';

/** node:crypto on first use: loading it costs every command ~5 ms of start-up otherwise. */
let hash: typeof CreateHash | undefined;
const createHash: typeof CreateHash = (...args) => (hash ??= (createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto')).createHash)(...args);
import type { EndRule } from '../framing/end-rule.js';
import type { Service, ServiceReply, Verdict } from './types.js';

/** Each message: uint32 length, then a type byte and its contents (draft-miller-ssh-agent). */
const AGENT_MESSAGE: EndRule = { kind: 'len', size: 4, le: false, offset: 0 };

const SSH_AGENT_FAILURE = 5;
const SSH_AGENTC_REQUEST_IDENTITIES = 11;
const SSH_AGENT_IDENTITIES_ANSWER = 12;
const SSH_AGENT_EXTENSION_FAILURE = 28;

const REQUEST = Buffer.from([0, 0, 0, 1, SSH_AGENTC_REQUEST_IDENTITIES]);

/** Keys listed one by one in the details (the count is always exact). */
const KEYS_SHOWN = 16;

/** One key of an identities answer. */
export interface AgentKey {
  type: string;
  comment: string;
  /** SHA256:... as ssh-add -l prints it. */
  fingerprint: string;
}

/** Parse an identities answer's body (after the type byte): the count, and the keys that fit in the bytes read. */
export function parseIdentities(body: Buffer): { count: number; keys: AgentKey[] } {
  const count = body.length >= 4 ? body.readUInt32BE(0) : 0;
  const keys: AgentKey[] = [];
  let i = 4;
  const str = (): Buffer | null => {
    if (i + 4 > body.length) return null;
    const n = body.readUInt32BE(i);
    if (i + 4 + n > body.length) return null;
    const s = body.subarray(i + 4, i + 4 + n);
    i += 4 + n;
    return s;
  };
  for (let k = 0; k < count; k++) {
    const blob = str();
    const comment = str();
    if (!blob || !comment) break;
    const typeLen = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
    keys.push({
      type: blob.subarray(4, 4 + Math.min(typeLen, 64)).toString('latin1'),
      comment: comment.toString('utf8'),
      fingerprint: `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`,
    });
  }
  return { count, keys };
}

function judge(reply: ServiceReply): Verdict {
  const type = reply.bytes[4];
  if (type === SSH_AGENT_IDENTITIES_ANSWER) {
    const { count, keys } = parseIdentities(reply.bytes.subarray(5));
    const details: Record<string, string | number> = { keys: count };
    keys.slice(0, KEYS_SHOWN).forEach((k, n) => {
      details[`key${n + 1}`] = `${k.fingerprint} ${k.comment} (${k.type})`;
    });
    if (count === 0) return { code: 'AGENT_NO_KEYS', summary: 'the agent has no identities (0 keys)', details };
    const names = keys.slice(0, 3).map((k) => k.comment || k.type);
    const more = count > names.length ? `, +${count - names.length} more` : '';
    return { code: 'OK', summary: `the agent holds ${count} key${count === 1 ? '' : 's'}: ${names.join(', ')}${more}`, details };
  }
  if (type === SSH_AGENT_FAILURE || type === SSH_AGENT_EXTENSION_FAILURE) {
    return { code: 'AGENT_FAILURE', summary: `the agent answered SSH_AGENT_FAILURE (${type}) to a request for its identities`, details: { messageType: type } };
  }
  return { code: 'AGENT_UNEXPECTED', summary: `the agent answered message type ${type ?? 'none'}, not an identities answer (12)`, details: { messageType: type ?? -1 } };
}

export const sshAgent: Service = {
  name: 'ssh-agent',
  title: 'ssh-agent',
  socketTypes: ['stream'],
  recognise: {
    // Only ssh-agent: gpg-agent and gnome-keyring-daemon also hold sockets of other protocols
    // (S.gpg-agent speaks Assuan), so theirs are known by path.
    process: /^ssh-agent$/,
    env: 'SSH_AUTH_SOCK',
    // ssh-agent's default and the agent sshd forwards (/tmp/ssh-XXXX/agent.PID), gpg-agent's ssh socket.
    path: /(\/ssh-[^/]+\/agent\.\d+|\/S\.gpg-agent\.ssh)$/,
  },
  check: { kind: 'request', request: () => REQUEST, until: () => AGENT_MESSAGE, judge },
  findings: [
    {
      code: 'AGENT_NO_KEYS',
      severity: 'WARNING',
      title: 'the agent holds no keys',
      cause: 'the agent is up but lists no identities ("The agent has no identities", ssh-add -l exits 1); a locked agent also lists none',
      fix: 'add a key with ssh-add (or unlock the agent with ssh-add -X)',
    },
    {
      code: 'AGENT_FAILURE',
      severity: 'CRITICAL',
      title: 'the agent refused to list keys',
      cause: 'SSH_AGENT_FAILURE to a request for its identities: an agent that restricts this socket, or a broken agent',
      fix: "check the agent's own log or restart it; a forwarded agent may refuse by its destination constraints",
    },
    {
      code: 'AGENT_UNEXPECTED',
      severity: 'CRITICAL',
      title: 'not an ssh-agent answer',
      cause: 'the reply was a length-prefixed message of another type than an identities answer',
      fix: 'check that SSH_AUTH_SOCK points at an ssh agent',
    },
  ],
  replyEnd: AGENT_MESSAGE,
  benchRequest: { payload: REQUEST, until: AGENT_MESSAGE, describe: 'SSH_AGENTC_REQUEST_IDENTITIES (ssh-agent)' },
};
