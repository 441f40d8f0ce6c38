/**
 * probe's suite file (udsctl.yaml, --config) and --format openmetrics, end to
 * end on real servers: udsctl's own, redis-server, a silent one; the
 * OpenMetrics text read back by a strict parser written here from the format's
 * rules, and by `promtool check metrics` (Debian's prometheus package) too.
 */
import { createServer, type Server } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli.js';
import { parseProbeConfig } from '../src/commands/probe-config.js';
import { run } from './helpers/children.js';
import { findTool, requirePeers } from './helpers/requirements.js';
import { tmpDir } from './helpers/tmp-dir.js';
import { cleanup, probe, redis, serve } from './fixtures/probe-helpers.js';

afterEach(cleanup);

const probeCmd = buildProgram('probe').commands.find((c) => c.name() === 'probe')!;
const shapes = probeCmd.options.map((o) => ({ name: o.long!.slice(2), takesValue: o.required || o.optional, repeatable: o.long === '--header' || o.long === '--param' }));

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the OpenMetrics text format (the subset a gauge-only
 * exposition uses): every line is metadata (# TYPE/UNIT/HELP of the family
 * being described), a sample of that family, or the final `# EOF`; names and
 * label names are checked, label values unescaped (\\ \" \n only), values are
 * numbers, and nothing may follow `# EOF`.
 */
function parseOpenMetrics(text: string): { families: Map<string, { type: string; unit?: string; help?: string }>; samples: Sample[] } {
  expect(text.endsWith('# EOF\n'), 'ends with "# EOF" and a newline').toBe(true);
  const lines = text.slice(0, -1).split('\n');
  expect(lines.pop()).toBe('# EOF');
  const families = new Map<string, { type: string; unit?: string; help?: string }>();
  const samples: Sample[] = [];
  let current = '';
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  for (const line of lines) {
    const meta = /^# (TYPE|UNIT|HELP) (\S+) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta;
      expect(name).toMatch(NAME);
      if (kind === 'TYPE') {
        expect(families.has(name), `family ${name} described twice`).toBe(false);
        expect(['gauge', 'counter', 'info', 'stateset', 'unknown']).toContain(rest);
        families.set(name, { type: rest });
        current = name;
      } else {
        expect(name, `${kind} of the family being described`).toBe(current);
        if (kind === 'UNIT') expect(name.endsWith(`_${rest}`), 'a unit is the name\'s suffix').toBe(true);
        families.get(name)![kind === 'UNIT' ? 'unit' : 'help'] = rest;
      }
      continue;
    }
    expect(line.startsWith('#'), `unknown comment line: ${line}`).toBe(false);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    expect(m, `not a sample: ${line}`).not.toBeNull();
    const [, name, labelText, value] = m!;
    expect(name, 'a sample of the family being described').toBe(current);
    const labels: Record<string, string> = {};
    if (labelText) {
      let rest = labelText.slice(1, -1);
      while (rest.length) {
        const l = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(rest);
        expect(l, `bad labels: ${labelText}`).not.toBeNull();
        expect(labels[l![1]], `label ${l![1]} twice`).toBeUndefined();
        labels[l![1]] = l![2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
        rest = rest.slice(l![0].length);
      }
    }
    expect(value).toMatch(/^(-?\d+(\.\d+)?(e[-+]?\d+)?|NaN|[+-]Inf)$/);
    samples.push({ name, labels, value: Number(value) });
  }
  return { families, samples };
}

describe('the suite file, parsed', () => {
  const bad = (text: string) => {
    try {
      parseProbeConfig('udsctl.yaml', text, shapes);
    } catch (err) {
      return (err as Error & { code: string }).code + ' ' + (err as Error).message;
    }
    return 'no error';
  };

  it('targets as paths or maps; keys are the long options, turned into the same arguments', () => {
    const c = parseProbeConfig('u.yaml', 'concurrency: 3\ndefaults:\n  timeout: 2s\ntargets:\n  - /a.sock\n  - target: /b.sock\n    keep-alive: true\n    send: 0x12\n    header: [a, b]\n    http: /\n', shapes);
    expect(c.concurrency).toBe(3);
    expect(c.targets.map((t) => t.target)).toEqual(['/a.sock', '/b.sock']);
    expect(c.targets[0].args).toEqual(['--timeout=2s']);
    // Text as on a command line: 0x12 is not 18.
    expect(c.targets[1].args).toEqual(['--timeout=2s', '--keep-alive', '--send=0x12', '--header=a', '--header=b', '--http=/']);
    // as: NAME:ARG is one plain scalar (no space after the colon), passed whole to --as.
    const g = parseProbeConfig('u.yaml', 'targets:\n  - target: /g.sock\n    as: grpc:my.Service\n', shapes);
    expect(g.targets[0].args).toEqual(['--as=grpc:my.Service']);
  });

  it('a bad key or value is one line naming the file and line', () => {
    expect(bad('targets:\n  - target: /x\n    tiemout: 2s\n')).toBe('BAD_CONFIG udsctl.yaml:3: unknown key "tiemout" (probe has no --tiemout; see udsctl probe --help)');
    expect(bad('targets:\n  - target: /x\n    keep-alive: yes\n')).toBe('BAD_CONFIG udsctl.yaml:3: keep-alive: true or false');
    expect(bad('targets:\n  - target: /x\n    format: json\n')).toMatch(/^BAD_CONFIG udsctl.yaml:3: format is for the whole run/);
    expect(bad('targets:\n  - {timeout: 1s}\n')).toMatch(/^BAD_CONFIG udsctl.yaml:2: this target has no "target:"/);
    expect(bad('targets:\n  - target: /x\n    timeout: [1s, 2s]\n')).toBe('BAD_CONFIG udsctl.yaml:3: timeout: one value, not a list');
    expect(bad('targets:\n  - target: /x\n    timeout: 1s\n    timeout: 2s\n')).toMatch(/^BAD_CONFIG udsctl.yaml:4: Map keys must be unique/);
    expect(bad('foo: 1\ntargets: [/x]\n')).toMatch(/^BAD_CONFIG udsctl.yaml:1: unknown key "foo"/);
    expect(bad('concurrency: 0\ntargets: [/x]\n')).toMatch(/^BAD_CONFIG udsctl.yaml:1: concurrency must be/);
    expect(bad('targets: []\n')).toMatch(/^BAD_CONFIG udsctl.yaml:1: targets: expected a list/);
    expect(bad('')).toMatch(/^BAD_CONFIG udsctl.yaml:1: the file is empty/);
    expect(bad('targets:\n  - target: /x\n   bad: indent\n')).toMatch(/^BAD_CONFIG udsctl.yaml:3: /);
    for (const msg of [bad('targets:\n  - target: /x\n    tiemout: 2s\n'), bad('targets: [\n')]) expect(msg).not.toContain('\n');
  });
});

describe('udsctl probe with a suite file', () => {
  it('udsctl.yaml in the working directory: every target with its options, one report, the worst status', async () => {
    requirePeers('redis-server');
    const dir = tmpDir();
    await serve(join(dir, 'ok.sock'));
    await redis(join(dir, 'redis.sock'));
    writeFileSync(
      join(dir, 'udsctl.yaml'),
      `defaults:\n  timeout: 2s\ntargets:\n  - ${dir}/ok.sock\n  - target: ${dir}/redis.sock\n    resp: PING\n    expect: PONG\n  - target: ${dir}/missing.sock\n`,
    );
    const r = await probe(['--json'], { cwd: dir });
    expect(r.status, r.stderr).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc.targets.map((t: { target: string; code: string }) => [t.target, t.code])).toEqual([
      [`${dir}/ok.sock`, 'OK'],
      [`${dir}/redis.sock`, 'OK'],
      [`${dir}/missing.sock`, 'NOT_FOUND'],
    ]);
    // The redis target was probed with its own options: RESP, a persistent protocol.
    expect(doc.targets[1].contract).toBe('keep-alive');

    // Command-line options reach every target; a target's own key wins.
    writeFileSync(join(dir, 'two.yaml'), `targets:\n  - ${dir}/ok.sock\n  - target: ${dir}/ok.sock\n    connect-only: true\n`);
    const c = await probe(['--json', '--config', 'two.yaml', '--expect', 'OK+'], { cwd: dir });
    expect(c.status, c.stderr).toBe(3); // --connect-only contradicts --expect: a usage error of that target, before anything runs
    expect(c.stderr).toMatch(/^udsctl probe: two\.yaml:4: --connect-only sends and reads nothing: it contradicts --expect\n$/);
    expect(c.stdout).toBe('');
  });

  it('probes at most `concurrency` targets at once', async () => {
    const dir = tmpDir();
    const path = join(dir, 'silent.sock');
    let open = 0;
    let most = 0;
    const server: Server = createServer((s) => {
      most = Math.max(most, ++open);
      s.on('close', () => open--);
      s.on('error', () => {});
      s.resume(); // read (and drop) the probe line, so the client's close is seen
    });
    await new Promise<void>((r) => server.listen(path, r));
    try {
      writeFileSync(join(dir, 'udsctl.yaml'), `concurrency: 2\ndefaults:\n  timeout: 300ms\ntargets:\n${`  - ${path}\n`.repeat(6)}`);
      const r = await probe(['--json'], { cwd: dir, timeoutMs: 30_000 });
      expect(r.status, r.stderr).toBe(2);
      expect(JSON.parse(r.stdout).targets.map((t: { code: string }) => t.code)).toEqual(Array(6).fill('SILENT'));
      expect(most).toBeGreaterThanOrEqual(1);
      expect(most).toBeLessThanOrEqual(2);
    } finally {
      server.close();
    }
  });

  it('a bad file: one line on stderr naming the file and line, exit 3, nothing probed', async () => {
    const dir = tmpDir();
    writeFileSync(join(dir, '.udsctl.yaml'), 'targets:\n  - target: /nowhere.sock\n    timeout: soon\n');
    const r = await probe([], { cwd: dir });
    expect(r.status).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^udsctl probe: \.udsctl\.yaml:3: .*--timeout must be a duration/);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    // --as's one parser checks the file's as: too, naming its line.
    writeFileSync(join(dir, 'as.yaml'), 'targets:\n  - target: /nowhere.sock\n  - target: /nowhere.sock\n    as: redis:PING\n');
    const as = await probe(['--config', 'as.yaml'], { cwd: dir });
    expect([as.status, as.stdout]).toEqual([3, '']);
    expect(as.stderr).toMatch(/^udsctl probe: as\.yaml:4: .*--as redis takes no argument \(got "redis:PING"\); only .*grpc.* take :ARG\n$/);
    writeFileSync(join(dir, 'udsctl.yaml'), 'targets: [/x]\n');
    const two = await probe([], { cwd: dir });
    expect(two.stderr).toBe('udsctl probe: udsctl.yaml and .udsctl.yaml are both here: keep one\n');
    const both = await probe(['--config', 'udsctl.yaml', '/x.sock'], { cwd: dir });
    expect(both.status).toBe(3);
    expect(both.stderr).toMatch(/give targets or --config FILE, not both/);
  });

  it('no target and no file: the default socket, and it says so', async () => {
    const dir = tmpDir();
    const r = await probe(['--json', '-t', '300ms', '--connect-timeout', '300ms'], { cwd: dir, env: { UDSCTL_SOCKET: '' } });
    expect(r.stderr).toContain('udsctl probe: no target and no udsctl.yaml here: probing /tmp/odc_ws.sock (the default)\n');
    expect(JSON.parse(r.stdout).targets[0].target).toBe('/tmp/odc_ws.sock');
    const env = await probe(['--json', '-q', '-t', '300ms'], { cwd: dir, env: { UDSCTL_SOCKET: join(dir, 'x.sock') } });
    expect(env.stderr).toBe('');
  });
});

describe('probe --format openmetrics', () => {
  it('one target and a suite: a strict reader and promtool accept it; label values escaped', async () => {
    requirePeers('redis-server');
    const dir = tmpDir();
    await serve(join(dir, 'ok.sock'));
    await redis(join(dir, 'redis.sock'));
    const one = await probe(['--format', 'openmetrics', join(dir, 'ok.sock')]);
    expect(one.status, one.stderr).toBe(0);
    const a = parseOpenMetrics(one.stdout);
    expect([...a.families.keys()]).toEqual(['udsctl_probe_up', 'udsctl_probe_severity', 'udsctl_probe_duration_seconds', 'udsctl_probe_response_seconds']);
    expect(a.samples.find((s) => s.name === 'udsctl_probe_up')).toEqual({ name: 'udsctl_probe_up', labels: { target: join(dir, 'ok.sock') }, value: 1 });
    expect(a.samples.find((s) => s.name === 'udsctl_probe_severity')!.labels.finding).toBe('OK');

    // A suite, with a target whose name needs every escape the format has.
    const odd = join(dir, 'odd "quoted" \\ back\nline.sock');
    writeFileSync(join(dir, 'suite.yaml'), `targets:\n  - ${join(dir, 'ok.sock')}\n  - target: ${join(dir, 'redis.sock')}\n    resp: PING\n  - ${JSON.stringify(odd)}\n`);
    const many = await probe(['--format', 'openmetrics', '--config', join(dir, 'suite.yaml')]);
    expect(many.status, many.stderr).toBe(2);
    const b = parseOpenMetrics(many.stdout);
    const up = b.samples.filter((s) => s.name === 'udsctl_probe_up');
    expect(up.map((s) => [s.labels.target, s.value])).toEqual([
      [join(dir, 'ok.sock'), 1],
      [join(dir, 'redis.sock'), 1],
      [odd, 0],
    ]);
    expect(b.samples.find((s) => s.name === 'udsctl_probe_severity' && s.labels.target === odd)).toMatchObject({ labels: { finding: 'NOT_FOUND' }, value: 2 });
    // No reply from the missing one: no response time for it.
    expect(b.samples.filter((s) => s.name === 'udsctl_probe_response_seconds').map((s) => s.labels.target)).toEqual([join(dir, 'ok.sock'), join(dir, 'redis.sock')]);

    requirePeers('promtool');
    for (const text of [one.stdout, many.stdout]) {
      const p = await run(findTool('promtool')!, ['check', 'metrics'], { input: text, timeoutMs: 20_000 });
      expect(p.code, p.stdout + p.stderr).toBe(0);
      expect(p.stdout + p.stderr).toBe('');
    }
  });
});
