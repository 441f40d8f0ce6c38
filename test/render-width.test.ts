import { describe, expect, it } from 'vitest';
import stringWidth from 'string-width';
import { padEnd, truncate, wrap } from '../src/render/width.js';

describe('display width helpers (probe report)', () => {
  it('truncate cuts by columns, wide characters count two, never half a character', () => {
    expect(truncate('abcdef', 6)).toBe('abcdef');
    expect(truncate('abcdefg', 6)).toBe('abcde…');
    expect(truncate('中文中文', 6)).toBe('中文…'); // 4 + 1 columns; a third 中 would make 7
    expect(stringWidth(truncate('中文中文', 5))).toBeLessThanOrEqual(5);
    expect(truncate('👩‍👩‍👧 family', 3)).toBe('👩‍👩‍👧…');
  });

  it('padEnd pads to columns, not code units', () => {
    expect(stringWidth(padEnd('中文', 8))).toBe(8);
    expect(padEnd('中文', 8)).toBe('中文    ');
  });

  it('wrap keeps every line within the width, with the indent on the lines after the first', () => {
    const text = '  cause: ' + 'word 中文 '.repeat(20) + 'x'.repeat(100);
    const lines = wrap(text, 40, '         ');
    for (const l of lines) expect(stringWidth(l)).toBeLessThanOrEqual(40);
    expect(lines[0].startsWith('  cause: word')).toBe(true);
    for (const l of lines.slice(1)) expect(l.startsWith('         ')).toBe(true);
    // Nothing lost but the spaces where lines break.
    expect(lines.join('').replace(/\s+/g, '')).toBe(text.replace(/\s+/g, ''));
  });
});
