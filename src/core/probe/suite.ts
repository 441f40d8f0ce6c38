/**
 * A suite: many targets, each with its own options (udsctl.yaml), probed with
 * at most `concurrency` at once, so a long list does not open hundreds of
 * connections to one machine in the same instant. Every job's options are
 * checked before the first probe starts: a typo fails fast, nothing half-run.
 */
import { UdsError } from '../errors.js';
import { type Target, checkTarget } from '../socket/target.js';
import { probe } from '../probe.js';
import { type ProbeReport, type Severity, worstSeverity } from './findings.js';
import { type ProbeOptions, settings } from './settings.js';

export interface ProbeJob {
  target: Target | string;
  options: ProbeOptions;
}

/** Probes at once when the suite does not say. */
export const DEFAULT_SUITE_CONCURRENCY = 8;

/** Probe every job, at most `concurrency` at once; reports in the jobs' order, the status the worst. */
export async function probeSuite(jobs: readonly ProbeJob[], concurrency = DEFAULT_SUITE_CONCURRENCY): Promise<{ status: Severity; reports: ProbeReport[] }> {
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new UdsError('BAD_OPTION', 'concurrency must be a whole number above 0');
  const checked = jobs.map((j) => {
    settings(j.options);
    return { target: checkTarget(j.target), options: j.options };
  });
  const reports: ProbeReport[] = new Array(checked.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < checked.length; i = next++) reports[i] = await probe(checked[i].target, checked[i].options);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, checked.length) }, worker));
  return { status: worstSeverity(reports.map((r) => r.status)), reports };
}
