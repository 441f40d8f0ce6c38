/**
 * --help within the terminal's width (80 columns when stdout is not a
 * terminal, or $COLUMNS when set): commander wraps the option descriptions;
 * this wraps the free text each command adds after them (tables of faults,
 * findings, exit statuses; examples), so a line written wider than 80 still
 * fits, and a wider terminal gets the lines as written.
 */
import { displayWidth, wrap } from './width.js';

/** Columns for --help: the terminal's, else $COLUMNS, else 80. */
export function helpColumns(stream: { isTTY?: boolean; columns?: number } = process.stdout): number {
  if (stream.isTTY && (stream.columns ?? 0) > 0) return stream.columns as number;
  const env = Number(process.env.COLUMNS);
  return Number.isInteger(env) && env >= 40 ? env : 80;
}

/**
 * One line of help text in `width` columns. Its continuation lines are
 * indented to where its description starts: after a table row's term (two or
 * more spaces after the first word), under a shell comment's `# `, else at
 * the line's own indent; a shell command continues with ` \` so it can still
 * be pasted.
 */
function fitLine(line: string, width: number): string[] {
  if (displayWidth(line) <= width) return [line];
  const lead = /^ */.exec(line)![0];
  const body = line.slice(lead.length);
  // "  udsctl probe --wait 30s /x    # a comment": the command stays whole when it fits, the comment wraps under itself.
  const comment = /^(.*?\S)( {2,}# )(.*)$/.exec(body);
  if (comment && lead.length + comment[1].length + comment[2].length + 20 <= width) {
    const head = lead + comment[1] + comment[2];
    return wrap(head + comment[3], width, `${' '.repeat(head.length - 2)}# `);
  }
  if (comment) return [...fitLine(lead + comment[1], width), ...wrap(`${lead}# ${comment[3]}`, width, `${lead}# `)];
  if (/^udsctl /.test(body)) {
    // A command: break between words (never inside quotes), each line but the last ending in " \".
    const words = body.match(/(?:'[^']*'|"[^"]*"|\S)+/g) ?? [];
    const out: string[] = [];
    let cur = lead;
    for (const w of words) {
      const next = cur.trim() ? `${cur} ${w}` : cur + w;
      if (displayWidth(next) + 2 > width && cur.trim()) {
        out.push(`${cur} \\`);
        cur = `${lead}    ${w}`;
      } else cur = next;
    }
    return [...out, cur];
  }
  // A table row: "  term      description" or "   2  meaning".
  const row = /^(\S+ {2,})/.exec(body);
  if (row && lead.length + row[1].length + 20 <= width) return wrap(line, width, ' '.repeat(lead.length + row[1].length));
  return wrap(line, width, lead);
}

/** Help text with every line within `width` columns. */
export function fitHelp(text: string, width: number): string {
  return text
    .split('\n')
    .flatMap((l) => fitLine(l, width))
    .join('\n');
}
