/**
 * probe --format openmetrics: the results in the OpenMetrics text format, for
 * node_exporter's textfile collector (write to a .prom file, rename it into the
 * collector's folder), so a fleet is watched through Prometheus. The text is
 * also valid Prometheus text format 0.0.4 (`# UNIT` and `# EOF` are comments
 * there), which is what the textfile collector parses.
 *
 *   udsctl_probe_up{target="/run/app.sock"} 1
 *   udsctl_probe_severity{target="/run/app.sock",finding="OK"} 0
 *   udsctl_probe_duration_seconds{target="/run/app.sock"} 0.0031
 */
import { SEVERITY_EXIT, type ProbeReport } from '../core/probe.js';

/** A label value in the text format: backslash, double quote and newline escaped; the rest as it is (UTF-8). */
export function labelValue(s: string): string {
  // A lone surrogate cannot be written as UTF-8: the replacement character, as TextEncoder would.
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD').replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** A float as the format writes it: no exponent surprises for small durations. */
const num = (n: number): string => (Number.isFinite(n) ? String(Number(n.toPrecision(6))) : 'NaN');

const FAMILIES = [
  { name: 'udsctl_probe_up', help: '1 when the target is healthy (OK or WARNING), else 0', unit: '' },
  { name: 'udsctl_probe_severity', help: 'the probe status as its exit status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; finding names the cause', unit: '' },
  { name: 'udsctl_probe_duration_seconds', help: 'how long the probe took, every check and --wait attempt included', unit: 'seconds' },
  { name: 'udsctl_probe_response_seconds', help: 'response time, from the start to the end of the reply (absent when none came)', unit: 'seconds' },
] as const;

/** Every target's results as one OpenMetrics exposition, ending in `# EOF`. */
export function probeOpenMetrics(reports: readonly ProbeReport[]): string {
  const out: string[] = [];
  for (const f of FAMILIES) {
    out.push(`# TYPE ${f.name} gauge`);
    if (f.unit) out.push(`# UNIT ${f.name} ${f.unit}`);
    out.push(`# HELP ${f.name} ${f.help}`);
    for (const r of reports) {
      const target = `target="${labelValue(r.target)}"`;
      if (f.name === 'udsctl_probe_up') out.push(`${f.name}{${target}} ${r.status === 'OK' || r.status === 'WARNING' ? 1 : 0}`);
      else if (f.name === 'udsctl_probe_severity') out.push(`${f.name}{${target},finding="${labelValue(r.finding.code)}"} ${SEVERITY_EXIT[r.status]}`);
      else if (f.name === 'udsctl_probe_duration_seconds') out.push(`${f.name}{${target}} ${num((r.elapsedMs ?? 0) / 1000)}`);
      else if (r.responseMs !== null) out.push(`${f.name}{${target}} ${num(r.responseMs / 1000)}`);
    }
  }
  out.push('# EOF');
  return `${out.join('\n')}\n`;
}
