/**
 * Display width on a terminal: wide (CJK, emoji) characters take two columns,
 * combining marks none, colour codes none. Measured by `string-width` (see
 * docs/architecture.md "Dependencies, and why"); the text given here is already escaped (escapeText),
 * so it holds no control characters.
 *
 * string-width, and ICU's segmenter with it, cost ~20 ms of CPU when first loaded: more than a
 * whole probe of a healthy socket. Nearly every text is plain ASCII, so they are loaded only when
 * a command shows text that is not (`renderMeasured`); until then a code point is a column
 * (right for every narrow character) and colour codes none.
 */
import { stripVTControlCharacters } from 'node:util';

/** Columns when stdout is not a terminal, or a terminal that does not say. */
export const DEFAULT_COLUMNS = 80;

/**
 * Printable ASCII and the narrow characters our own text uses (`…`, `µ`, `±`, the block elements of
 * bench's bars): a column a UTF-16 unit, no measure needed (string-width costs far more, and more
 * than linearly on long text).
 */
const NARROW = /^[\x20-\x7e\u2026\u00b5\u00b1\u2580-\u259f]*$/;

let wide: ((s: string) => number) | undefined;
/** The cheap measure met text it may get wrong (since renderMeasured's last render). */
let guessed = false;
let segmenter: Intl.Segmenter | undefined;
const graphemes = (s: string) => (segmenter ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' })).segment(s);

/**
 * The text `render` makes, measured right: rendered with the cheap measure, and when that measure
 * met text it may get wrong (a CJK name, an emoji, a combining mark: anything beyond NARROW once
 * colour codes are set aside), string-width is loaded and it is rendered again. Every command that
 * shows a report on a terminal renders it through this.
 */
export async function renderMeasured(render: () => string): Promise<string> {
  guessed = false;
  const text = render();
  if (wide || !guessed) return text;
  wide = (await import('string-width')).default;
  return render();
}

/** Without string-width: colour codes take no column, and a code point one (right for every narrow character). */
function cheapWidth(s: string): number {
  const plain = s.includes('\x1b') ? stripVTControlCharacters(s) : s;
  if (NARROW.test(plain)) return plain.length;
  guessed = true;
  return [...plain].length;
}

/** Columns the text takes on a terminal. */
export const displayWidth = (s: string): number => (NARROW.test(s) ? s.length : wide ? wide(s) : cheapWidth(s));

/** The text cut to at most `width` columns, ending in `…` when cut (never inside a character). */
export function truncate(s: string, width: number): string {
  if (displayWidth(s) <= width) return s;
  if (width <= 0) return '';
  if (NARROW.test(s)) return `${s.slice(0, width - 1)}…`;
  let out = '';
  let used = 0;
  for (const { segment } of graphemes(s)) {
    const w = displayWidth(segment);
    if (used + w > width - 1) break;
    out += segment;
    used += w;
  }
  return `${out}…`;
}

/** The text padded with spaces to `width` columns (longer text is left as it is). */
export function padEnd(s: string, width: number): string {
  const w = displayWidth(s);
  return w >= width ? s : s + ' '.repeat(width - w);
}

/**
 * The text wrapped at spaces into lines of at most `width` columns; the lines
 * after the first start with `indent` (counted in the width). A word longer
 * than a line is cut where the line ends.
 */
export function wrap(s: string, width: number, indent = ''): string[] {
  const indentWidth = displayWidth(indent);
  const lines: string[] = [];
  let line = '';
  let used = 0;
  let fresh = true; // nothing on the line yet (not even an empty word: leading spaces are kept)
  const max = () => (lines.length === 0 ? width : width - indentWidth);
  const push = () => {
    lines.push(lines.length === 0 ? line : indent + line);
    line = '';
    used = 0;
    fresh = true;
  };
  for (const word of s.split(' ')) {
    const w = displayWidth(word);
    const sep = fresh ? 0 : 1;
    if (used + sep + w <= max()) {
      line += sep ? ` ${word}` : word;
      used += sep + w;
      fresh = false;
      continue;
    }
    if (!fresh) push();
    if (w <= max()) {
      line = word;
      used = w;
      fresh = false;
      continue;
    }
    if (NARROW.test(word)) {
      // A long narrow word: cut by columns, a slice a line.
      let at = 0;
      for (let m = max(); word.length - at > m; m = max()) {
        line = word.slice(at, at + m);
        at += m;
        push();
      }
      line = word.slice(at);
      used = line.length;
      fresh = false;
      continue;
    }
    for (const { segment } of graphemes(word)) {
      const sw = displayWidth(segment);
      if (used + sw > max() && !fresh) push();
      line += segment;
      used += sw;
      fresh = false;
    }
  }
  if (!fresh || lines.length === 0) push();
  return lines;
}
