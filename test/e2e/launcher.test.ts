/**
 * The launcher loads the bundle with V8's code cache; a missing or foreign
 * cache must only cost time, never break the CLI.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tmpDir } from '../helpers/tmp-dir.js';
import { ROOT } from '../helpers/run-cli.js';

function copyDist(cache: 'none' | 'garbage' | 'built'): string {
  const dir = tmpDir();
  const dist = join(dir, 'dist');
  mkdirSync(dist);
  for (const f of ['launch.cjs', 'udsctl.cjs']) copyFileSync(join(ROOT, 'dist', f), join(dist, f));
  if (cache === 'garbage') writeFileSync(join(dist, 'udsctl.cjs.cache'), Buffer.from('not a V8 code cache'));
  if (cache === 'built') copyFileSync(join(ROOT, 'dist', 'udsctl.cjs.cache'), join(dist, 'udsctl.cjs.cache'));
  copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  return dist;
}

describe('launcher', () => {
  it.each(['none', 'garbage', 'built'] as const)('runs the CLI with cache=%s', (cache) => {
    const dist = copyDist(cache);
    const script = `require(${JSON.stringify(join(dist, 'launch.cjs'))}).main(['node', 'udsctl', '--version']).then((c) => { process.exitCode = c; })`;
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: ROOT, env: { ...process.env, NODE_PATH: join(ROOT, 'node_modules') } });
    expect(out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('the built cache is accepted by this Node', () => {
    const script = `const { load } = require(${JSON.stringify(join(ROOT, 'dist', 'launch.cjs'))});
      const { script } = load(require('node:fs').readFileSync(${JSON.stringify(join(ROOT, 'dist', 'udsctl.cjs.cache'))}));
      process.stdout.write(String(script.cachedDataRejected));`;
    expect(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })).toBe('false');
  });

  it('`udsctl send` starts the bundle of send alone when it was built, the whole CLI otherwise (and for other commands); the same help either way', () => {
    const run = (cmd: string, withSend: boolean) => {
      const dist = copyDist('built');
      if (withSend) for (const f of ['udsctl-send.cjs', 'udsctl-send.cjs.cache']) copyFileSync(join(ROOT, 'dist', f), join(dist, f));
      const script = join(dist, 'run.cjs');
      writeFileSync(script, `const l = require('./launch.cjs'); process.stderr.write(require('node:path').basename(l.bundleFile)); l.main(process.argv).then((c) => { process.exitCode = c; });`);
      const r = spawnSync(process.execPath, [script, cmd, '--help'], { encoding: 'utf8', cwd: ROOT, env: { ...process.env, NODE_PATH: join(ROOT, 'node_modules'), COLUMNS: '80' } });
      expect(r.status, r.stderr).toBe(0);
      return { bundle: r.stderr, help: r.stdout };
    };
    const alone = run('send', true);
    const whole = run('send', false);
    expect(alone.bundle).toBe('udsctl-send.cjs');
    expect(whole.bundle).toBe('udsctl.cjs');
    expect(alone.help).toMatch(/^Usage: udsctl send /);
    expect(alone.help).toBe(whole.help);
    expect(run('probe', true).bundle).toBe('udsctl.cjs');
  });

  it('as a shell runs it, the launcher unsets NODE_EXTRA_CA_CERTS (no TLS here; Node parses the bundle at every start)', () => {
    // Node warns on stderr when the variable names a file it cannot load: so the warning shows whether it reached Node.
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: join(tmpDir(), 'no-such-bundle.pem') };
    const direct = spawnSync(process.execPath, [join(ROOT, 'bin', 'udsctl.cjs'), '--version'], { encoding: 'utf8', env });
    expect(direct.stderr).toMatch(/Ignoring extra certs/); // node run by hand: the variable reaches Node
    const launched = spawnSync(join(ROOT, 'bin', 'udsctl.cjs'), ['--version'], { encoding: 'utf8', env });
    expect(launched.status, launched.stderr).toBe(0);
    expect(launched.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(launched.stderr).toBe('');
  });
});
