/**
 * probe's options, checked and settled (defaults filled in, the CLI's checks
 * made for library callers too): the Settings every check reads.
 */
import { checkDuration, formatDuration } from '../duration.js';
import { type EndRule, checkEndRule } from '../framing/end-rule.js';
import { UdsError } from '../errors.js';
import { DEFAULT_TIMEOUT_MS } from '../defaults.js';
import { DEFAULT_MAX_REPLY } from '../exchange.js';
import { type LinearRegex, compileLinearRegex } from '../regex.js';
import { type SocketType, parseSocketType } from '../socket/socket-type.js';
import { type Identity, currentIdentity } from '../socket/identity.js';
import { type Contract, type ProbeReport, CONTRACTS } from './findings.js';
import { type Service, parseServiceSpec } from '../service/index.js';

/** Default payload: one short line that no protocol mistakes for a command. */
export const DEFAULT_PROBE_PAYLOAD = 'udsctl-probe\n';

export const PROBE_DEFAULTS = {
  payload: DEFAULT_PROBE_PAYLOAD,
  until: 'line',
  contract: 'one-shot',
  connectTimeout: 2_000,
  timeout: DEFAULT_TIMEOUT_MS,
  closeTimeout: 1_000,
  warn: 1_000,
  interval: 500,
  ownerLookupBudget: 1_000,
} as const;

export interface ProbeOptions {
  /** Bytes to send; default `udsctl-probe\n`. Empty: send nothing (for servers that speak first). */
  payload?: Buffer;
  /** Shut down our write side after sending (servers that read to end-of-file). */
  halfClose?: boolean;
  /** The reply must contain these bytes. */
  expect?: Buffer;
  /**
   * The reply (as UTF-8) must match. Matched in linear time (RE2 syntax, see
   * src/core/regex.ts): a RegExp is taken by its source and flags; backreferences
   * and lookaround are BAD_OPTION.
   */
  expectRegex?: RegExp | string;
  /** End of reply; default line. */
  until?: EndRule;
  /** Bytes of reply kept, matched and shown; default 1 MiB. More is counted, and the exchange says truncated. */
  maxReply?: number;
  /** one-shot (default): the server must close within closeTimeout after replying. keep-alive: staying open is healthy. */
  contract?: Contract;
  /** Default 2s. */
  connectTimeout?: number;
  /** Bound on the reply, from connected to end of reply. Default 5s. */
  timeout?: number;
  /** one-shot: how long the server may take to close after replying. Default 1s; 0 skips the close check. */
  closeTimeout?: number;
  /** Response time over this is SLOW, WARNING. Default 1s; 0 disables. */
  warn?: number;
  /** Response time over this is SLOW, CRITICAL. Default none. */
  crit?: number;
  /** Retry until healthy (OK or WARNING) or this many ms have passed. */
  wait?: number;
  /** Pause between attempts with `wait`. Default 500ms. */
  interval?: number;
  /** With an HTTP reply (until http): the status that is healthy; default any 2xx (3xx, 4xx WARNING; 5xx CRITICAL). */
  expectStatus?: number;
  /** Called after every attempt with `wait` (progress). */
  onAttempt?: (report: ProbeReport, attempt: number) => void;
  signal?: AbortSignal;
  /** Bound on naming the listening process from /proc (a scan of every process's fd folder; tens of ms on an idle machine). Default 1s. */
  ownerLookupBudget?: number;
  /**
   * Liveness only: path, listener, connect, then close; nothing is sent or read. OK when the
   * connection is established, whatever protocol the server speaks (php-fpm, a database, D-Bus).
   * Contradicts payload, halfClose, expect, expectRegex and the keep-alive contract (BAD_OPTION).
   */
  connectOnly?: boolean;
  /** Whose permissions to check (default: this process's effective ids). */
  identity?: Identity;
  /** The Unix socket type; default: found out (sock_diag, else by connecting). */
  socketType?: SocketType;
  /**
   * The service to check, by name (`--as`: memcached, http, line, ...; SERVICE_NAMES), instead
   * of recognising it; `NAME:ARG` gives its check an argument (`grpc:my.Service`,
   * `postgresql:appuser`; a service says whether it takes one: Service.arg). 'line' forces the
   * seed's one-shot line contract. With a payload (the --http/--resp/--fastcgi flags' requests),
   * that request is sent and the name says what it is.
   */
  as?: string;
  /** The environment recognition reads ($SSH_AUTH_SOCK); default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface Settings {
  connectOnly: boolean;
  payload: Buffer;
  halfClose: boolean;
  expect?: Buffer;
  expectRegex?: LinearRegex;
  until: EndRule;
  maxReply: number;
  contract: Contract;
  connectTimeout: number;
  timeout: number;
  closeTimeout: number;
  warn: number;
  crit?: number;
  expectStatus?: number;
  ownerLookupBudget: number;
  identity: Identity;
  signal?: AbortSignal;
  socketType?: SocketType;
  /** A payload was given: sent on a dgram socket too (else nothing lands in /dev/log). */
  payloadGiven: boolean;
  /** An end rule was given: on a message socket it replaces "one message". */
  untilGiven: boolean;
  /** A contract was given: else a seqpacket server may stay open (message protocols mostly are persistent). */
  contractGiven: boolean;
  /** --as NAME (checked against the service table). */
  as?: Service;
  /** --as NAME:ARG: the argument for that service's check. */
  asArg?: string;
  /** The caller set up the exchange itself (payload, end rule, half-close, contract): it is made as given, not the service's check. */
  driven: boolean;
  env: Readonly<Record<string, string | undefined>>;
}

const asBuffer = (v: unknown, what: string): Buffer | undefined => {
  if (v === undefined) return undefined;
  if (typeof v === 'string') return Buffer.from(v);
  if (v instanceof Uint8Array) return Buffer.isBuffer(v) ? v : Buffer.from(v);
  throw new UdsError('BAD_OPTION', `${what} must be a Buffer or a string (got ${v === null ? 'null' : typeof v})`);
};

/** Options to settings, checked as the CLI checks flags: a typed error, never a TypeError or a made-up verdict. */
export function settings(o: ProbeOptions): Settings {
  if (o === null || typeof o !== 'object') throw new UdsError('BAD_OPTION', 'options must be an object');
  const until = checkEndRule(o.until ?? { kind: 'line' });
  const contract = o.contract ?? PROBE_DEFAULTS.contract;
  if (!CONTRACTS.includes(contract)) throw new UdsError('BAD_OPTION', `contract must be one of ${CONTRACTS.join(', ')}`);
  if (contract === 'keep-alive' && until.kind === 'eof') {
    throw new UdsError(
      'BAD_OPTION',
      '--until eof waits for the server to close, which a --keep-alive server never does; use line, delim:, bytes: or idle:',
    );
  }
  const warn = checkDuration(o.warn ?? PROBE_DEFAULTS.warn, 'warn');
  if (o.crit !== undefined) checkDuration(o.crit, 'crit');
  if (o.wait !== undefined) checkDuration(o.wait, 'wait');
  if (o.interval !== undefined) checkDuration(o.interval, 'interval');
  const maxReply = o.maxReply ?? DEFAULT_MAX_REPLY;
  if (!Number.isSafeInteger(maxReply) || maxReply < 0) {
    throw new UdsError('BAD_OPTION', `maxReply must be a whole number of bytes >= 0 (got ${String(o.maxReply)})`);
  }
  const expect = asBuffer(o.expect, 'expect');
  if (expect !== undefined && expect.length === 0) throw new UdsError('BAD_OPTION', '--expect needs some text');
  const connectOnly = Boolean(o.connectOnly);
  if (connectOnly) {
    const clash = (
      [
        ['payload', o.payload !== undefined],
        ['halfClose', Boolean(o.halfClose)],
        ['expect', o.expect !== undefined],
        ['expectRegex', o.expectRegex !== undefined],
        ['contract keep-alive', contract === 'keep-alive'],
      ] as const
    ).find(([, given]) => given);
    if (clash) throw new UdsError('BAD_OPTION', `connectOnly sends and reads nothing: it contradicts ${clash[0]}`);
  }
  let as: Service | undefined;
  let asArg: string | undefined;
  const driven = o.payload !== undefined || o.until !== undefined || Boolean(o.halfClose) || o.contract !== undefined;
  if (o.as !== undefined) {
    ({ service: as, arg: asArg } = parseServiceSpec(String(o.as)));
    if (connectOnly && as.check.kind !== 'connect' && as.name !== 'line') throw new UdsError('BAD_OPTION', `--connect-only sends and reads nothing: it contradicts --as ${as.name}`);
    // The argument is for the service's own check, which an exchange given by hand replaces.
    if (asArg !== undefined && driven) throw new UdsError('BAD_OPTION', `--as ${as.name}:${asArg} is for ${as.name}'s own check: it contradicts --send, --until, --half-close, --keep-alive and --expect-close`);
  }
  if (o.crit !== undefined && warn > 0 && o.crit < warn) {
    throw new UdsError('BAD_OPTION', `--crit (${formatDuration(o.crit)}) must not be below --warn (${formatDuration(warn)})`);
  }
  return {
    connectOnly,
    payload: asBuffer(o.payload, 'payload') ?? Buffer.from(PROBE_DEFAULTS.payload),
    halfClose: Boolean(o.halfClose),
    expect,
    expectRegex: o.expectRegex === undefined ? undefined : compileLinearRegex(o.expectRegex),
    until,
    maxReply,
    contract,
    connectTimeout: checkDuration(o.connectTimeout ?? PROBE_DEFAULTS.connectTimeout, 'connectTimeout', { positive: true }),
    timeout: checkDuration(o.timeout ?? PROBE_DEFAULTS.timeout, 'timeout', { positive: true }),
    closeTimeout: checkDuration(o.closeTimeout ?? PROBE_DEFAULTS.closeTimeout, 'closeTimeout'),
    warn,
    crit: o.crit,
    expectStatus: checkStatus(o.expectStatus),
    ownerLookupBudget: o.ownerLookupBudget ?? PROBE_DEFAULTS.ownerLookupBudget,
    identity: o.identity ?? currentIdentity(),
    signal: o.signal,
    socketType: o.socketType === undefined ? undefined : parseSocketType(o.socketType, 'socketType'),
    payloadGiven: o.payload !== undefined,
    untilGiven: o.until !== undefined,
    contractGiven: o.contract !== undefined,
    as,
    asArg,
    driven,
    env: o.env ?? process.env,
  };
}

export function checkStatus(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || (v as number) < 100 || (v as number) > 599) throw new UdsError('BAD_OPTION', `expectStatus must be an HTTP status from 100 to 599 (got ${String(v)})`);
  return v as number;
}
