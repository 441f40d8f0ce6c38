/**
 * Running a service's health check (request or dialogue) on one connection:
 * the record for probe's generic judging, and the service's verdict when its
 * reply came complete. The caller (probe) turns both into findings.
 */
import type { ExchangeRecord } from '../exchange-record.js';
import type { Target } from '../socket/target.js';
import { converse } from './conversation.js';
import type { CheckContext, Service, ServiceReply, Verdict } from './types.js';

export interface CheckRun {
  record: ExchangeRecord;
  /** Absent when the exchange itself failed (the record's error says how). */
  verdict?: Verdict;
  /** The request form's complete reply. */
  reply?: ServiceReply;
}

/** Run a request or dialogue check. Never rejects for a socket failure. */
export async function runServiceCheck(service: Service, t: Target, ctx: CheckContext): Promise<CheckRun> {
  const c = service.check;
  if (c.kind === 'request') {
    const request = c.request(ctx);
    const until = c.until(ctx);
    const { record, result } = await converse(t, ctx, (conv) => conv.ask(request, until));
    return result ? { record, reply: result, verdict: c.judge(result, ctx) } : { record };
  }
  if (c.kind === 'dialogue') {
    const { record, result } = await converse(t, ctx, (conv) => c.run(conv, ctx));
    return result ? { record, verdict: result } : { record };
  }
  throw new Error(`${service.name}: a ${c.kind} check is run by probe itself`);
}
