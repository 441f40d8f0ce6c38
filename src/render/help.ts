/**
 * --help within the terminal's width (80 columns when stdout is not a
 * terminal, or $COLUMNS when set): commander wraps the option descriptions;
 * this wraps the free text each command adds after them (tables of faults,
 * findings, exit statuses; examples), so a line written wider than 80 still
 * fits, and a wider terminal gets the lines as written.
 */
// Help text is ours and ASCII: a character is a column. Not render/width.ts, whose
// string-width would load at every start of the CLI, for --help only.
const displayWidth = (s: string): number => s.length;

/**
 * `s` in lines of at most `width` columns, broken at single spaces (runs of
 * spaces, a table's padding, are kept); continuation lines start with
 * `indent`; a word longer than a line is cut. render/width.ts's wrap, in ASCII.
 */
function wrap(s: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = '';
  let fresh = true;
  const max = () => (lines.length === 0 ? width : width - indent.length);
  const push = () => {
    lines.push(lines.length === 0 ? line : indent + line);
    line = '';
    fresh = true;
  };
  for (const word of s.split(' ')) {
    if (line.length + (fresh ? 0 : 1) + word.length <= max()) {
      line += fresh ? word : ` ${word}`;
      fresh = false;
      continue;
    }
    if (!fresh) push();
    let rest = word;
    while (rest.length > max()) {
      line = rest.slice(0, max());
      rest = rest.slice(max());
      push();
    }
    line = rest;
    fresh = false;
  }
  if (!fresh || lines.length === 0) push();
  return lines;
}

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
