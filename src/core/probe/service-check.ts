/**
 * probe and the services (src/core/service): recognising the target before
 * the exchange (the --as flag, the listening process, the path, the socket
 * type, a look for a banner when the process is not visible) or after it (its
 * answer to udsctl's line), running the service's own check, and judging it:
 * failures of the connection or of the read as for any exchange, a complete
 * reply by the service, and a protocol flag that does not fit the service.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { ExchangeRecord } from '../exchange-record.js';
import { type Recognition, type Service, type Verdict, type CheckContext, type ProcessFacts, formatServiceSpec, recogniseBanner, recogniseReply, recogniseWithoutIo } from '../service/index.js';
import { lookAtServer, lookEvidence } from '../service/look.js';
import { runServiceCheck } from '../service/run.js';
import type { SocketType, SocketTypeSource } from '../socket/socket-type.js';
import type { Target } from '../socket/target.js';
import type { PathInfo } from '../socket/path-access.js';
import { type ProcessInfo, processNames } from '../socket/processes.js';
import type { Finding, ListenerInfo, ServiceInfo } from './findings.js';
import type { Settings } from './settings.js';
import { makeFinding, type Checklist } from './checklist.js';
import { judgeExchange } from './judge-exchange.js';

/** The listener's processes with their executables (readable for our own processes, or as root). */
async function facts(owners: readonly ProcessInfo[]): Promise<ProcessFacts[]> {
  const seen = new Set<number>();
  const out: ProcessFacts[] = [];
  for (const o of owners) {
    if (seen.has(o.pid)) continue;
    seen.add(o.pid);
    const exe = await fsp.readlink(`/proc/${o.pid}/exe`).catch(() => undefined);
    out.push({ pid: o.pid, name: o.name, cmdline: o.cmdline, ...(exe ? { exe: exe.replace(/ \(deleted\)$/, '') } : {}) });
  }
  return out;
}

/** What is known before anything is sent: the flag, then the process, path and socket type; a look when the process is hidden. */
export async function recogniseBefore(t: Target, s: Settings, p: PathInfo | null, l: ListenerInfo | null, type: SocketType | null): Promise<Recognition | null> {
  if (s.as) return { service: s.as, by: 'flag', evidence: s.driven ? `its protocol flag (${s.as.name})` : `--as ${formatServiceSpec({ service: s.as, arg: s.asArg })}` };
  const abs = t.kind === 'unix' ? (p?.absolute ?? path.resolve(t.path)) : undefined;
  const known = recogniseWithoutIo({ processes: await facts(l?.owners ?? []), path: abs, socketType: type, env: s.env });
  if (s.driven || s.connectOnly) return known;
  // The listener's process is not visible (another user's, another namespace): ask the kernel who it is, and listen for a banner.
  const hidden = t.kind !== 'tcp' && type !== 'dgram' && type !== 'seqpacket' && (l?.owners.length ?? 0) === 0 && (l === null || l.inodes.length > 0 || !l.available || l.hidden);
  if (!hidden) return known;
  // Known by its path only: the process outranks it (uwsgi --http-socket on uwsgi.sock speaks HTTP), so a quick
  // look for it first (no wait for a banner; a full backlog is for the check to report).
  if (known && known.by !== 'path') return known;
  const look = await lookAtServer(t, known ? { connectTimeout: Math.min(s.connectTimeout, 300), waitMs: 0, signal: s.signal } : { connectTimeout: s.connectTimeout, signal: s.signal });
  if (look.process) {
    const byPeer = recogniseWithoutIo({ processes: [look.process], socketType: type });
    if (byPeer) return { ...byPeer, evidence: `${byPeer.evidence} ${lookEvidence(look)}` };
  }
  if (known) return known;
  return look.banner.length > 0 ? recogniseBanner(look.banner) : null;
}

/** After the seed's exchange: its reply (a banner at its start, or an answer in another protocol), or the peer's process. */
export async function recogniseAfter(r: ExchangeRecord): Promise<Recognition | null> {
  if (r.reply.length > 0) {
    const hit = recogniseBanner(r.reply) ?? recogniseReply(r.reply);
    if (hit) return hit;
  }
  return recognisePeer(r);
}

/** The process on the other end of the exchange's connection (SO_PEERCRED; gone if it forked after listen()). */
export async function recognisePeer(r: ExchangeRecord): Promise<Recognition | null> {
  if (!r.peer) return null;
  const names = await processNames(r.peer.pid);
  if (!names) return null;
  const hit = recogniseWithoutIo({ processes: [{ pid: r.peer.pid, ...names }], socketType: r.socketType });
  return hit ? { ...hit, evidence: `${hit.evidence} (SO_PEERCRED)` } : null;
}

export function serviceInfo(rec: Recognition, details: Verdict['details'] = {}): ServiceInfo {
  // A known socket (Docker's API) keeps its service's name (`http`: what --as takes) and says what it is in the title.
  const title = rec.known ? (rec.service.check.kind === 'line' ? rec.known.title : `${rec.known.title} (${rec.service.title})`) : rec.service.title;
  return { name: rec.service.name, title, recognisedBy: rec.by, evidence: rec.evidence, details: { ...details } };
}

export interface ServiceOutcome {
  record: ExchangeRecord;
  responseMs: number | null;
  /** The OK finding's detail when the service found it healthy (used if nothing worse was found). */
  okDetail: string | null;
  details: NonNullable<Verdict['details']>;
}

/** Run the service's check and judge it into checks and findings. */
export async function checkService(
  t: Target,
  s: Settings,
  svc: Service,
  p: PathInfo | null,
  l: ListenerInfo | null,
  checks: Checklist,
  findings: Finding[],
  typeSource: SocketTypeSource,
): Promise<ServiceOutcome> {
  const ctx: CheckContext = {
    target: t,
    display: t.display,
    // The argument of --as NAME:ARG, for that service only (not one recognised after a failed check).
    ...(s.as === svc && s.asArg !== undefined ? { arg: s.asArg } : {}),
    timeout: s.timeout,
    connectTimeout: s.connectTimeout,
    maxReply: s.maxReply,
    uid: s.identity.uid,
    gid: s.identity.gid,
    signal: s.signal,
  };
  const c = svc.check;
  const request = c.kind === 'request' ? c.request(ctx) : Buffer.alloc(0);
  const until = c.kind === 'request' ? c.until(ctx) : ({ kind: 'eof' } as const);
  const run = await runServiceCheck(svc, t, ctx);
  const record: ExchangeRecord = t.kind === 'tcp' ? { ...run.record, socketType: undefined } : { ...run.record, socketTypeSource: typeSource };
  // The service judges a complete reply itself: probe's generic judging sees no protocol frame.
  const bare: ExchangeRecord = { ...record };
  delete bare.frame;
  const judged: Settings = { ...s, payload: request, until, contract: 'keep-alive', closeTimeout: 0, halfClose: false, payloadGiven: true, untilGiven: true, contractGiven: true };
  const first = findings.length;
  const responseMs = judgeExchange(t, judged, bare, p, l, checks, findings);
  if (c.kind === 'dialogue' && record.timings.connectedUs !== undefined) {
    checks.set('send', record.bytesSent > 0 ? 'ok' : 'skip', record.bytesSent > 0 ? `${record.bytesSent} bytes (${svc.title} dialogue)` : 'nothing sent');
  }
  let verdict = run.verdict ?? null;
  if (!verdict && record.error) {
    verdict = svc.nameFailure?.(record, ctx) ?? null;
    // The service names the failure: its finding replaces the generic one.
    if (verdict) findings.splice(first);
  }
  let okDetail: string | null = null;
  if (verdict) {
    const sev = verdict.code === 'OK' ? 'OK' : (verdict.severity ?? severityOf(svc, verdict.code));
    const status = sev === 'OK' ? 'ok' : sev === 'WARNING' ? 'warn' : 'fail';
    checks.worsen(record.error && record.timings.connectedUs === undefined ? 'connect' : 'reply', status, `${svc.title}: ${verdict.summary}`);
    if (verdict.code === 'OK') okDetail = `${t.display}: ${svc.title}: ${verdict.summary}`;
    else findings.push(makeFinding(verdict.code, `${t.display}: ${verdict.summary}`, { ...(verdict.severity ? { severity: verdict.severity } : {}), ...(verdict.fix ? { fix: verdict.fix } : {}) }));
  }
  return { record, responseMs, okDetail, details: verdict?.details ?? {} };
}

function severityOf(svc: Service, code: string): Finding['severity'] {
  return svc.findings.find((f) => f.code === code)?.severity ?? 'CRITICAL';
}

/**
 * A protocol flag (--http, --resp, --fastcgi, --as) on a server recognised as another service,
 * and the check failed: say which protocol it speaks, in place of the verdicts about a reply
 * and a close that assumed the flag's protocol ("crash").
 */
export function judgeWrongProtocol(t: Target, flagged: Service, seen: Recognition, checks: Checklist, findings: Finding[]): void {
  // A known socket with no check of its own (gpg-agent): its protocol is not one udsctl speaks, so nothing to suggest.
  if (seen.service === flagged || seen.service.check.kind === 'line') return;
  const bad = findings.some((f) => f.severity === 'CRITICAL' || f.severity === 'UNKNOWN');
  if (!bad) return;
  for (let i = findings.length - 1; i >= 0; i--) {
    const f = findings[i];
    if ((f.check === 'reply' || f.check === 'close') && f.code !== 'SLOW') findings.splice(i, 1);
  }
  const how = seen.service.flag ?? `--as ${seen.service.name}`;
  checks.worsen('reply', 'warn', `${seen.service.title}, not ${flagged.title}`);
  findings.push(
    makeFinding('WRONG_PROTOCOL', `${t.display}: ${seen.evidence}: it speaks ${seen.service.title}, not ${flagged.title}`, {
      fix: `probe with ${how}, or with no protocol flag (udsctl recognises it)`,
    }),
  );
}
