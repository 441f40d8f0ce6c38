/**
 * The tap's --json connection record keeps bytes that are not UTF-8 (issue 19
 * item 12): the request and reply previews were U+FFFD only; now their exact
 * bytes come too (requestBase64, replyBase64), as the traffic records keep
 * theirs, on both relays (the epoll relay and the net engine's tap).
 */
import { once } from 'node:events';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { collectStderr, killAll, startCli, waitExit, waitForStderr } from '../helpers/run-cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';

afterEach(() => killAll());

describe('tap --json: exact bytes in the connection record', () => {
  it.each(['epoll', 'net'])('%s relay', async (engine) => {
    const dir = tmpDir();
    const upPath = join(dir, 'up.sock');
    const up = net.createServer((c) => c.once('data', () => c.end(Buffer.from([0xfe, 0x41, 0x0a]))).on('error', () => {}));
    up.listen(upPath);
    await once(up, 'listening');
    try {
      const tapPath = join(dir, 'tap.sock');
      const tap = startCli(['serve', '--json', '--engine', engine, '--workers', '1', '--count', '1', '--upstream', upPath, tapPath]);
      const log = collectStderr(tap);
      await waitForStderr(tap, /"event":"listening"|listening on/);
      const c = net.connect(tapPath);
      c.end(Buffer.from([0x41, 0xff, 0x42]));
      c.on('data', () => {}).on('error', () => {});
      await once(c, 'close');
      expect(await waitExit(tap, 15_000)).toBe(0);
      const rec = log
        .text()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l))
        .find((r) => r.event === 'connection');
      expect(rec, log.text()).toBeDefined();
      expect(Buffer.from(rec.requestBase64, 'base64').toString('hex')).toBe('41ff42');
      expect(Buffer.from(rec.replyBase64, 'base64').toString('hex')).toBe('fe410a');
      expect(rec.request).toBe('A\ufffdB');
    } finally {
      up.close();
    }
  });
});
