/**
 * The launcher loads the bundle with V8's code cache; a missing or foreign
 * cache must only cost time, never break the CLI.
 */
import { execFileSync } from 'node:child_process';
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
});
