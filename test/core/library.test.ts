import { afterEach, describe, expect, it } from 'vitest';
import * as lib from '../../src/index.js';
import { killChildren, run } from '../helpers/children.js';
import { DIST_INDEX } from '../helpers/peers.js';

afterEach(killChildren);

describe('the library API', () => {
  it('exports the core calls the commands use', () => {
    for (const name of ['parseTarget', 'parseDuration', 'parseEndRule', 'unescapeText', 'parseHex', 'exchange', 'send',
      'startServer', 'openConnection', 'inspectSocketFile', 'removeSocketFile', 'defaultReply', 'isUdsError'] as const) {
      expect(typeof lib[name], name).toBe('function');
    }
    expect(lib.UdsError.prototype).toBeInstanceOf(Error);
  });

  it('importing it registers no process listeners and prints nothing', async () => {
    const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'exit', 'beforeExit', 'uncaughtException', 'unhandledRejection', 'warning'];
    const script = `
      const count = () => Object.fromEntries(${JSON.stringify(events)}.map((e) => [e, process.listenerCount(e)]));
      const before = count();
      await import(${JSON.stringify(DIST_INDEX)});
      process.stderr.write(JSON.stringify({ before, after: count() }));`;
    const r = await run(process.execPath, ['--input-type=module', '-e', script], { timeoutMs: 10_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    const { before, after } = JSON.parse(r.stderr);
    expect(after).toEqual(before);
  });
});
