import { describe, expect, it } from 'vitest';
import { UNIX_PATH_MAX, describeTarget, findReplyEnd } from '../../src/unstable.js';
import {
  UdsError,
  formatDuration,
  formatEndRule,
  parseDuration,
  parseEndRule,
  parseHex,
  parseTarget,
  unescapeText,
} from '../../src/index.js';

/** The typed error a call throws (fails the test if it does not throw one). */
function thrown(fn: () => unknown): UdsError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UdsError);
    return err as UdsError;
  }
  throw new Error('expected a UdsError, nothing was thrown');
}

describe('parseTarget', () => {
  it('takes absolute and relative socket paths as unix targets', () => {
    expect(parseTarget('/run/app.sock')).toEqual({ kind: 'unix', path: '/run/app.sock', display: '/run/app.sock' });
    expect(parseTarget('app.sock')).toEqual({ kind: 'unix', path: 'app.sock', display: 'app.sock' });
    expect(parseTarget('./run/app.sock')).toMatchObject({ kind: 'unix', path: './run/app.sock' });
    expect(parseTarget('../app.sock')).toMatchObject({ kind: 'unix', path: '../app.sock' });
  });

  it('strips the unix: prefix, which also lets a path look like @name or host:port', () => {
    expect(parseTarget('unix:/tmp/x.sock')).toEqual({ kind: 'unix', path: '/tmp/x.sock', display: '/tmp/x.sock' });
    expect(parseTarget('unix:@not-abstract')).toMatchObject({ kind: 'unix', path: '@not-abstract' });
    expect(parseTarget('unix:db:5432')).toMatchObject({ kind: 'unix', path: 'db:5432' });
  });

  it('takes a path with a slash as a path even when it ends in :port', () => {
    expect(parseTarget('./db:5432')).toMatchObject({ kind: 'unix', path: './db:5432' });
    expect(parseTarget('/var/run/db:5432')).toMatchObject({ kind: 'unix' });
  });

  it('takes @name as a Linux abstract name, without the @, as bytes', () => {
    const t = parseTarget('@my-app');
    expect(t.kind).toBe('abstract');
    if (t.kind !== 'abstract') return;
    expect(t.name).toEqual(Buffer.from('my-app'));
    expect(t.display).toBe('@my-app');
    expect(describeTarget(t)).toBe('@my-app');
  });

  it('takes host:port and tcp://host:port as TCP', () => {
    expect(parseTarget('127.0.0.1:8080')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 8080, display: '127.0.0.1:8080' });
    expect(parseTarget('localhost:1')).toMatchObject({ kind: 'tcp', host: 'localhost', port: 1 });
    expect(parseTarget('tcp://example.org:65535')).toMatchObject({ kind: 'tcp', host: 'example.org', port: 65535 });
    expect(parseTarget('tcp://db-1.internal:5432').display).toBe('db-1.internal:5432');
  });

  it('takes [IPv6]:port with the brackets kept in the display only', () => {
    expect(parseTarget('[::1]:9000')).toEqual({ kind: 'tcp', host: '::1', port: 9000, display: '[::1]:9000' });
    expect(parseTarget('tcp://[fe80::1]:80')).toMatchObject({ kind: 'tcp', host: 'fe80::1', port: 80 });
  });

  it('refuses bad TCP targets with BAD_TARGET', () => {
    expect(thrown(() => parseTarget('tcp://localhost')).code).toBe('BAD_TARGET');
    expect(thrown(() => parseTarget('tcp://localhost:')).code).toBe('BAD_TARGET');
    const range = thrown(() => parseTarget('localhost:70000'));
    expect(range.code).toBe('BAD_TARGET');
    expect(range.message).toMatch(/port must be 0-65535/);
    // Port 0 is accepted: `serve 127.0.0.1:0` binds any free port.
    expect(parseTarget('tcp://h:0')).toMatchObject({ kind: 'tcp', port: 0 });
  });

  it('refuses an empty target, an empty path and an empty abstract name', () => {
    const empty = thrown(() => parseTarget(''));
    expect(empty.code).toBe('BAD_TARGET');
    expect(empty.message).toMatch(/empty/);
    expect(thrown(() => parseTarget('unix:')).code).toBe('BAD_TARGET');
    expect(thrown(() => parseTarget('@')).code).toBe('BAD_TARGET');
    expect(thrown(() => parseTarget(undefined as unknown as string)).code).toBe('BAD_TARGET');
  });

  it('refuses a NUL byte', () => {
    expect(thrown(() => parseTarget('/tmp/a\0b')).code).toBe('BAD_TARGET');
  });

  describe('the 108-byte sun_path limit', () => {
    it('is 108 on Linux: 107 bytes of path plus the terminating NUL', () => {
      expect(UNIX_PATH_MAX).toBe(108);
    });

    it('accepts a 107-byte path', () => {
      const p = '/' + 'a'.repeat(106);
      expect(parseTarget(p)).toMatchObject({ kind: 'unix', path: p });
    });

    it('refuses a 108-byte path with PATH_TOO_LONG and a message that says why and what to do', () => {
      const p = '/' + 'a'.repeat(107);
      const e = thrown(() => parseTarget(p));
      expect(e.code).toBe('PATH_TOO_LONG');
      expect(e.message).toContain('108 bytes');
      expect(e.message).toContain('the limit is 107 bytes');
      expect(e.message).toContain('sun_path');
      expect(e.message).toMatch(/shorter path|relative/);
    });

    it('counts bytes, not characters', () => {
      const p = '/' + 'é'.repeat(54); // 1 + 108 bytes, 55 characters
      expect(p.length).toBe(55);
      const e = thrown(() => parseTarget(p));
      expect(e.code).toBe('PATH_TOO_LONG');
      expect(e.message).toContain('109 bytes');
    });

    it('applies to unix: paths and abstract names too (an abstract name has 107 bytes after its leading NUL)', () => {
      expect(thrown(() => parseTarget('unix:/' + 'b'.repeat(107))).code).toBe('PATH_TOO_LONG');
      expect(parseTarget('@' + 'n'.repeat(107)).kind).toBe('abstract');
      const e = thrown(() => parseTarget('@' + 'n'.repeat(108)));
      expect(e.code).toBe('PATH_TOO_LONG');
      expect(e.message).toMatch(/abstract name is 108 bytes; the limit is 107/);
    });
  });
});

describe('parseDuration', () => {
  it('reads ms, s, m, h, us and bare milliseconds', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('2s')).toBe(2000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('1m')).toBe(60_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('250us')).toBe(0.25);
    expect(parseDuration('250')).toBe(250);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration(' 3 s ')).toBe(3000);
  });

  it('refuses anything else with BAD_DURATION naming the option and the input', () => {
    for (const bad of ['', 'abc', '-1s', '5sec', '1.s', 's', '2 minutes', '1e3']) {
      const e = thrown(() => parseDuration(bad, '--timeout'));
      expect(e.code).toBe('BAD_DURATION');
      expect(e.message).toBe(`--timeout must be a duration like 500ms, 2s or 1m (got "${bad}")`);
    }
  });

  it('says "duration" when no option is named', () => {
    expect(thrown(() => parseDuration('soon')).message).toMatch(/^duration must be a duration like 500ms/);
  });

  it("refuses more than Node's timers can wait (2^31-1 ms would otherwise fire after 1 ms)", () => {
    expect(parseDuration('2147483647')).toBe(2 ** 31 - 1);
    for (const big of ['2147483648', '3000000000', '600h', '1' + '0'.repeat(400)]) {
      const e = thrown(() => parseDuration(big, '--timeout'));
      expect(e.code).toBe('BAD_DURATION');
      expect(e.message).toMatch(/^--timeout must be at most 2147483647ms/);
    }
  });

  it('with positive, 0 is refused (-t 0 is a usage error)', () => {
    expect(parseDuration('0', '--close-timeout')).toBe(0);
    expect(thrown(() => parseDuration('0', '--timeout', { positive: true })).message).toBe('--timeout must be above 0 (got "0")');
    expect(thrown(() => parseDuration('0ms', '--timeout', { positive: true })).code).toBe('BAD_DURATION');
    expect(parseDuration('1us', '--timeout', { positive: true })).toBe(0.001);
  });
});

describe('sizeOption', () => {
  it('takes 512, 64k, 1MiB, 8M up to its maximum and refuses more in one line', async () => {
    const { sizeOption } = await import('../../src/options.js');
    const size = sizeOption('--max-reply');
    expect(size('512')).toBe(512);
    expect(size('64k')).toBe(64 * 1024);
    expect(size('1MiB')).toBe(1024 ** 2);
    expect(size('1G')).toBe(1024 ** 3);
    expect(() => size('5G')).toThrow(/^--max-reply must be at most 1GiB \(got "5G"\)$/);
    expect(() => sizeOption('--size', 1, 64 * 1024 ** 2)('65M')).toThrow(/at most 64MiB/);
    expect(() => size('lots')).toThrow(/must be a size like/);
  });
});

describe('formatDuration', () => {
  it('renders microseconds, milliseconds and seconds for people', () => {
    expect(formatDuration(0.85)).toBe('850us');
    expect(formatDuration(1.234)).toBe('1.23ms');
    expect(formatDuration(12.34)).toBe('12.3ms');
    expect(formatDuration(123.4)).toBe('123ms');
    expect(formatDuration(2000)).toBe('2.00s');
  });
});

describe('parseEndRule / formatEndRule', () => {
  it('reads every rule', () => {
    expect(parseEndRule('eof')).toEqual({ kind: 'eof' });
    expect(parseEndRule('line')).toEqual({ kind: 'line' });
    expect(parseEndRule('bytes:16')).toEqual({ kind: 'bytes', n: 16 });
    expect(parseEndRule('idle:200ms')).toEqual({ kind: 'idle', ms: 200 });
    expect(parseEndRule('idle:1s')).toEqual({ kind: 'idle', ms: 1000 });
    expect(parseEndRule('delim:END')).toEqual({ kind: 'delim', delim: Buffer.from('END') });
  });

  it('unescapes the delimiter', () => {
    expect(parseEndRule('delim:\\r\\n')).toEqual({ kind: 'delim', delim: Buffer.from('\r\n') });
    expect(parseEndRule('delim:\\0')).toEqual({ kind: 'delim', delim: Buffer.from([0]) });
    expect(parseEndRule('delim:\\x1e')).toEqual({ kind: 'delim', delim: Buffer.from([0x1e]) });
  });

  it('refuses bad rules with BAD_OPTION and the list of rules', () => {
    const e = thrown(() => parseEndRule('close'));
    expect(e.code).toBe('BAD_OPTION');
    expect(e.message).toContain('eof | line | message | delim:TEXT | bytes:N | idle:DURATION');
    expect(e.message).toContain('"close"');
    expect(thrown(() => parseEndRule('')).code).toBe('BAD_OPTION');
    expect(thrown(() => parseEndRule('delim:')).message).toMatch(/non-empty delimiter/);
    for (const n of ['0', '-1', '1.5', 'x', '']) {
      const b = thrown(() => parseEndRule(`bytes:${n}`));
      expect(b.code).toBe('BAD_OPTION');
      expect(b.message).toMatch(/whole number N >= 1/);
    }
  });

  it('refuses a bad idle duration with BAD_DURATION naming --until idle:', () => {
    const e = thrown(() => parseEndRule('idle:soon'));
    expect(e.code).toBe('BAD_DURATION');
    expect(e.message).toMatch(/^--until idle: must be a duration/);
  });

  it('formats each rule as a user would write it, round-tripping through the parser', () => {
    for (const text of ['eof', 'line', 'bytes:16', 'idle:250ms', 'delim:END', 'delim:\\r\\n']) {
      expect(formatEndRule(parseEndRule(text))).toBe(text);
    }
    expect(formatEndRule(parseEndRule('idle:2s'))).toBe('idle:2000ms');
  });
});

describe('findReplyEnd', () => {
  it('finds the end of a line, a delimiter and a byte count; -1 until then', () => {
    expect(findReplyEnd({ kind: 'line' }, Buffer.from('ab\ncd'))).toBe(3);
    expect(findReplyEnd({ kind: 'line' }, Buffer.from('abcd'))).toBe(-1);
    expect(findReplyEnd({ kind: 'delim', delim: Buffer.from('\r\n') }, Buffer.from('ab\r\ncd'))).toBe(4);
    expect(findReplyEnd({ kind: 'bytes', n: 3 }, Buffer.from('ab'))).toBe(-1);
    expect(findReplyEnd({ kind: 'bytes', n: 3 }, Buffer.from('abcd'))).toBe(3);
  });

  it('finds a delimiter split across the already-searched part and the new bytes', () => {
    const rule = { kind: 'delim' as const, delim: Buffer.from('\r\n') };
    // 'abc\r' was searched in an earlier call; '\n' just arrived.
    expect(findReplyEnd(rule, Buffer.from('abc\r\n'), 4)).toBe(5);
    const long = { kind: 'delim' as const, delim: Buffer.from('<<END>>') };
    expect(findReplyEnd(long, Buffer.from('xx<<EN' + 'D>>'), 6)).toBe(9);
  });

  it('never ends eof and idle replies by bytes', () => {
    expect(findReplyEnd({ kind: 'eof' }, Buffer.from('a\n'))).toBe(-1);
    expect(findReplyEnd({ kind: 'idle', ms: 10 }, Buffer.from('a\n'))).toBe(-1);
  });
});

describe('unescapeText', () => {
  it('turns \\r \\n \\t \\0 \\\\ \\e \\a and \\xHH into bytes', () => {
    expect(unescapeText('a\\r\\nb')).toEqual(Buffer.from('a\r\nb'));
    expect(unescapeText('\\t\\0\\\\')).toEqual(Buffer.from([0x09, 0x00, 0x5c]));
    expect(unescapeText('\\e\\a')).toEqual(Buffer.from([0x1b, 0x07]));
    expect(unescapeText('\\x41\\x7f\\xFF')).toEqual(Buffer.from([0x41, 0x7f, 0xff]));
  });

  it('keeps unknown escapes, a bad \\x and a trailing backslash as written', () => {
    expect(unescapeText('\\q')).toEqual(Buffer.from('\\q'));
    expect(unescapeText('\\xZZ')).toEqual(Buffer.from('\\xZZ'));
    expect(unescapeText('\\x4')).toEqual(Buffer.from('\\x4'));
    expect(unescapeText('end\\')).toEqual(Buffer.from('end\\'));
  });

  it('passes other text through as UTF-8', () => {
    expect(unescapeText('héllo ✓')).toEqual(Buffer.from('héllo ✓', 'utf8'));
    expect(unescapeText('')).toEqual(Buffer.alloc(0));
  });
});

describe('parseHex', () => {
  it('reads pairs with or without spaces and colons, and a 0x prefix', () => {
    expect(parseHex('48 69 0a')).toEqual(Buffer.from('Hi\n'));
    expect(parseHex('48:69:0A')).toEqual(Buffer.from('Hi\n'));
    expect(parseHex('48690a')).toEqual(Buffer.from('Hi\n'));
    expect(parseHex('0x4869')).toEqual(Buffer.from('Hi'));
    expect(parseHex('  00 ff\n')).toEqual(Buffer.from([0x00, 0xff]));
    expect(parseHex('')).toEqual(Buffer.alloc(0));
  });

  it('refuses an odd count or a non-hex digit with BAD_OPTION and an example', () => {
    for (const bad of ['486', 'zz', '48 6g']) {
      const e = thrown(() => parseHex(bad));
      expect(e.code).toBe('BAD_OPTION');
      expect(e.message).toContain('pairs of hex digits like "48 69 0a"');
      expect(e.message).toContain(`"${bad}"`);
    }
  });
});
