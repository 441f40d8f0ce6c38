import { beforeAll, describe, expect, it, vi } from 'vitest';
import stringWidth from 'string-width';
import { displayWidth, padEnd, renderMeasured, truncate, wrap } from '../src/render/width.js';

/** A fresh copy of the module: nothing has loaded string-width in it yet. */
async function fresh() {
  vi.resetModules();
  return import('../src/render/width.js');
}

describe('renderMeasured: string-width only when the text measured needs it', () => {
  it('plain ASCII is rendered once; text beyond it is rendered again, measured by string-width', async () => {
    const { displayWidth, renderMeasured } = await fresh();
    let calls = 0;
    expect(await renderMeasured(() => (calls++, `plain ascii … and our ellipsis ${displayWidth('µs ± █▏')}`))).toBe('plain ascii … and our ellipsis 7');
    expect(calls).toBe(1);
    expect(displayWidth('中文')).toBe(2); // the cheap measure: a column a code point
    const widths: number[] = [];
    const text = await renderMeasured(() => {
      widths.push(displayWidth('中文'));
      return `name: 中文`;
    });
    expect(text).toBe('name: 中文');
    expect(widths).toEqual([2, 4]); // rendered again once string-width was loaded
    expect(displayWidth('中文')).toBe(4);
  });

  it('colour codes take no column with the cheap measure, and need no second render', async () => {
    const { displayWidth, renderMeasured, wrap } = await fresh();
    let calls = 0;
    const red = '\x1b[31mhello\x1b[39m';
    const out = await renderMeasured(() => (calls++, `${displayWidth(red)} ${wrap(`${red} world`, 12).join('|')}`));
    expect(out).toBe(`5 ${red} world`); // 11 columns: one line, no sequence cut
    expect(calls).toBe(1);
  });

  it('a measure the cheap one got wrong is redone even when what it cut away was all that was not ASCII', async () => {
    const { renderMeasured, truncate } = await fresh();
    // e + a combining acute: 10 columns, 11 code points. Cut by code points, the output would be plain ASCII and "…".
    const name = 'abcdefghie\u0301';
    expect(await renderMeasured(() => truncate(name, 10))).toBe(name);
  });
});

describe('display width helpers (probe report)', () => {
  beforeAll(() => renderMeasured(() => String(displayWidth('中')))); // string-width loaded, as a report with such text would
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
