/**
 * What probe's judging writes into: the checklist (one row a check, raised,
 * never lowered), findings made from the findings table, and the small text
 * helpers their details share.
 */
import { escapeText } from '../escape.js';
import { type Severity, type CheckName, type FindingCode, type Finding, type CheckStatus, type Check, CHECKS, findingInfo } from './findings.js';

export const ms = (us: number): number => Math.round(us) / 1000;

/** A short, quoted, escaped preview of bytes for one line of text. */
export function preview(b: Buffer, max = 40): string {
  return escapeText(b.subarray(0, max * 4), { quote: true, max });
}

export function makeFinding(code: FindingCode, detail: string, over: { severity?: Severity; fix?: string; cause?: string } = {}): Finding {
  const row = findingInfo(code);
  return {
    code,
    severity: over.severity ?? row.severity,
    check: row.check,
    title: row.title,
    detail,
    cause: over.cause ?? row.cause,
    fix: over.fix ?? row.fix,
  };
}

const STATUS_RANK: Readonly<Record<CheckStatus, number>> = { 'not-reached': 0, skip: 0, ok: 1, warn: 2, fail: 3 };

export class Checklist {
  private readonly rows = new Map<CheckName, Check>();
  set(name: CheckName, status: CheckStatus, detail: string, msec: number | null = null): void {
    this.rows.set(name, { name, status, ms: msec, detail });
  }
  /** Replace a check's status and detail, keeping its time. */
  update(name: CheckName, status: CheckStatus, detail: string): void {
    const row = this.rows.get(name);
    if (!row) return this.set(name, status, detail);
    row.status = status;
    row.detail = detail;
  }
  /** Raise a check's status (never lowers it) and add to its detail. */
  worsen(name: CheckName, status: CheckStatus, extra: string): void {
    const row = this.rows.get(name);
    if (!row) return this.set(name, status, extra);
    if (STATUS_RANK[status] > STATUS_RANK[row.status]) row.status = status;
    row.detail = row.detail ? `${row.detail}; ${extra}` : extra;
  }
  list(): Check[] {
    return CHECKS.map((n) => this.rows.get(n) ?? { name: n, status: 'not-reached' as const, ms: null, detail: 'not reached' });
  }
}
