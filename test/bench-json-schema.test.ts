/**
 * The bench JSON report against its documented schema (docs/bench-json.schema.json):
 * real reports (persistent, oneshot, open loop, a comparison with thresholds) validate,
 * and a broken one does not. The validator is the small subset of JSON Schema the
 * file uses (type, const, enum, properties, required, additionalProperties, items,
 * minItems, maxItems, minimum).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, killAll, runCli } from './helpers/run-cli.js';
import { serve } from './helpers/servers.js';
import { tmpDir } from './helpers/tmp-dir.js';

afterEach(() => killAll());

type Schema = Record<string, any>;
const schema: Schema = JSON.parse(readFileSync(join(ROOT, 'docs', 'bench-json.schema.json'), 'utf8'));

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** Errors of `v` against `s`, with their JSON paths. */
function validate(v: unknown, s: Schema, path = '$'): string[] {
  const errs: string[] = [];
  if ('const' in s && v !== s.const) errs.push(`${path}: expected ${JSON.stringify(s.const)}`);
  if (s.enum && !s.enum.includes(v)) errs.push(`${path}: ${JSON.stringify(v)} not in ${JSON.stringify(s.enum)}`);
  if (s.type) {
    const types: string[] = Array.isArray(s.type) ? s.type : [s.type];
    const t = typeOf(v);
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) return [...errs, `${path}: ${t}, expected ${types.join('|')}`];
  }
  if (typeof v === 'number' && s.minimum !== undefined && v < s.minimum) errs.push(`${path}: ${v} < ${s.minimum}`);
  if (Array.isArray(v)) {
    if (s.minItems !== undefined && v.length < s.minItems) errs.push(`${path}: fewer than ${s.minItems} items`);
    if (s.maxItems !== undefined && v.length > s.maxItems) errs.push(`${path}: more than ${s.maxItems} items`);
    if (s.items) v.forEach((x, i) => errs.push(...validate(x, s.items, `${path}[${i}]`)));
  } else if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    for (const k of s.required ?? []) if (!(k in o)) errs.push(`${path}: missing ${k}`);
    for (const [k, x] of Object.entries(o)) {
      if (s.properties?.[k]) errs.push(...validate(x, s.properties[k], `${path}.${k}`));
      else if (s.additionalProperties === false) errs.push(`${path}: unexpected ${k}`);
    }
  }
  return errs;
}

describe('bench --json validates against docs/bench-json.schema.json', () => {
  it('persistent, oneshot and open-loop runs of udsctl serve, and a saved run compared with thresholds', async () => {
    const dir = tmpDir();
    const sock = join(dir, 's.sock');
    const srv = await serve(sock, { keepAlive: true });
    try {
      const docs: string[] = [];
      for (const args of [
        ['-m', 'persistent', '-c', '2', '-d', '1s'],
        ['-m', 'persistent', '-c', '2', '-d', '1s', '--rate', '200'],
      ]) {
        const r = await runCli(['bench', ...args, '--json', sock], { timeoutMs: 60_000 });
        expect(r.status, r.stderr).toBe(0);
        docs.push(r.stdout);
      }
      const one = await runCli(['bench', '-c', '2', '-d', '1s', '--json'], { timeoutMs: 60_000 });
      expect(one.status, one.stderr).toBe(0);
      docs.push(one.stdout);
      const saved = join(dir, 'a.json');
      writeFileSync(saved, docs[0]);
      const cmp = await runCli(['bench', '--input', saved, '--compare', saved, '--fail-if', 'errors>0', '--json']);
      expect(cmp.status, cmp.stderr).toBe(0);
      docs.push(cmp.stdout);
      for (const d of docs) {
        const j = JSON.parse(d);
        expect(validate(j, schema), j.mode).toEqual([]);
        expect(j.version).toBe(3);
      }
      expect(JSON.parse(docs[1]).schedule).not.toBeNull();
      expect(JSON.parse(docs[3]).comparison.metrics).toHaveLength(5);
      // The validator is not a rubber stamp.
      const broken = JSON.parse(docs[0]);
      delete broken.windowMs;
      broken.mode = 'sometimes';
      broken.timeline[0].requests = 'many';
      expect(validate(broken, schema).sort()).toEqual(['$.mode: "sometimes" not in ["oneshot","persistent"]', '$.timeline[0].requests: string, expected integer', '$: missing windowMs'].sort());
    } finally {
      await srv.close();
    }
  }, 120_000);
});
