/**
 * probe's suite file (issue 22): `udsctl probe` with no target reads
 * udsctl.yaml (or .udsctl.yaml) in the working directory, or `--config FILE`,
 * and probes every target it lists. A target's keys are probe's long options
 * without the dashes (`timeout: 2s`, `keep-alive: true`, `expect-regex: ...`),
 * turned into the same arguments the command line takes, so they are parsed
 * and checked by the very same code; a bad key or value is one line naming the
 * file and its line.
 *
 *   concurrency: 8            # probes at once (default 8)
 *   defaults:                 # keys for every target (optional)
 *     timeout: 2s
 *   targets:
 *     - /tmp/odc_ws.sock      # a target with the defaults
 *     - target: /run/redis/redis.sock
 *       resp: PING
 *       expect: PONG
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LineCounter, type Node, isMap, isScalar, isSeq, parseDocument, type YAMLMap } from 'yaml';
import { UdsError } from '../core/errors.js';
import { escapeText } from '../core/escape.js';
import { DEFAULT_SUITE_CONCURRENCY } from '../core/probe/suite.js';

/** Looked for, in this order, in the working directory. */
export const CONFIG_NAMES = ['udsctl.yaml', '.udsctl.yaml', 'udsctl.yml', '.udsctl.yml'] as const;

/** What the loader needs to know of one of probe's options. */
export interface OptionShape {
  /** The long name without dashes: the key in the file. */
  name: string;
  takesValue: boolean;
  /** Given more than once on the command line (--header, --param): a list in the file. */
  repeatable: boolean;
}

/** Options of the whole run, not of a target: given on the command line only. */
const RUN_LEVEL: ReadonlySet<string> = new Set(['format', 'json', 'quiet', 'config', 'help']);

export interface ConfigTarget {
  target: string;
  /** The target's options as command-line arguments (defaults first, so the target's own win). */
  args: string[];
  /** Where the target is in the file, for errors found when its arguments are parsed. */
  line: number;
  /** Line of each key, for the same. */
  keyLines: Map<string, number>;
}

export interface ProbeConfig {
  file: string;
  concurrency: number;
  targets: ConfigTarget[];
}

/** The suite file in `dir`, or null; two of them is an error (which one would be meant?). */
export function findConfig(dir: string, exists: (p: string) => boolean): string | null {
  const found = CONFIG_NAMES.filter((n) => exists(join(dir, n)));
  if (found.length > 1) throw new UdsError('BAD_CONFIG', `${found.join(' and ')} are both here: keep one`);
  return found.length ? found[0] : null;
}

/** Read and check a suite file. */
export function readProbeConfig(file: string, shapes: readonly OptionShape[]): ProbeConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UdsError('BAD_CONFIG', `${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseProbeConfig(file, text, shapes);
}

/** A suite file's text to its targets (exported for tests). */
export function parseProbeConfig(file: string, text: string, shapes: readonly OptionShape[]): ProbeConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false, strict: true, schema: 'failsafe' });
  const where = (n: Node | null | undefined, fallback = 1) => (n?.range ? lc.linePos(n.range[0]).line : fallback);
  const fail = (line: number, msg: string): never => {
    throw new UdsError('BAD_CONFIG', `${escapeText(file)}:${line}: ${msg}`);
  };
  const first = doc.errors[0];
  if (first) fail(lc.linePos(first.pos[0]).line, first.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, ''));
  const root = doc.contents;
  if (root === null) fail(1, 'the file is empty: list the targets under "targets:"');
  if (!isMap(root)) fail(where(root), 'expected keys (targets:, and optionally defaults:, concurrency:)');
  const top = root as YAMLMap;

  const byName = new Map(shapes.map((s) => [s.name, s]));
  let concurrency = DEFAULT_SUITE_CONCURRENCY;
  let defaults: { args: string[]; keyLines: Map<string, number> } = { args: [], keyLines: new Map() };
  let targetsNode: Node | null = null;

  for (const pair of top.items) {
    const key = pair.key as Node;
    const name = isScalar(key) ? String(key.value) : '';
    const value = pair.value as Node | null;
    if (name === 'concurrency') {
      const n = isScalar(value) && /^\d{1,4}$/.test(String(value.value)) ? Number(value.value) : 0;
      if (n < 1 || n > 1024) fail(where(value ?? key), 'concurrency must be a whole number from 1 to 1024');
      concurrency = n;
    } else if (name === 'defaults') {
      if (!isMap(value)) fail(where(value ?? key), 'defaults: expected keys such as "timeout: 2s"');
      defaults = optionArgs(value as YAMLMap, byName, where, fail, false);
    } else if (name === 'targets') {
      targetsNode = value;
    } else {
      fail(where(key), `unknown key "${escapeText(name)}" (the file has targets:, defaults:, concurrency:)`);
    }
  }
  if (!isSeq(targetsNode) || targetsNode.items.length === 0) fail(where(targetsNode, where(top)), 'targets: expected a list of targets ("- /run/app.sock", or "- target: /run/app.sock" with its keys)');

  const targets: ConfigTarget[] = [];
  for (const item of (targetsNode as unknown as { items: Node[] }).items) {
    const line = where(item);
    if (isScalar(item)) {
      if (typeof item.value !== 'string' || item.value === '') fail(line, 'a target is a socket path, @name or host:port');
      targets.push({ target: item.value as string, args: defaults.args, line, keyLines: defaults.keyLines });
      continue;
    }
    if (!isMap(item)) fail(line, 'a target is a path, or keys with "target:"');
    const map = item as YAMLMap;
    const tNode = map.items.find((p) => isScalar(p.key) && p.key.value === 'target');
    const t = tNode && isScalar(tNode.value) ? tNode.value.value : undefined;
    if (typeof t !== 'string' || t === '') fail(line, 'this target has no "target:" (a socket path, @name or host:port)');
    const own = optionArgs(map, byName, where, fail, true);
    targets.push({ target: t as string, args: [...defaults.args, ...own.args], line, keyLines: new Map([...defaults.keyLines, ...own.keyLines]) });
  }
  return { file, concurrency, targets };
}

/** A map of option keys to command-line arguments (`--timeout=2s`, `--keep-alive`). */
function optionArgs(
  map: YAMLMap,
  byName: Map<string, OptionShape>,
  where: (n: Node | null | undefined) => number,
  fail: (line: number, msg: string) => never,
  isTarget: boolean,
): { args: string[]; keyLines: Map<string, number> } {
  const args: string[] = [];
  const keyLines = new Map<string, number>();
  for (const pair of map.items) {
    const key = pair.key as Node;
    const name = isScalar(key) ? String(key.value) : '';
    const line = where(key);
    if (isTarget && name === 'target') continue;
    if (!isTarget && name === 'target') fail(line, '"target:" belongs in a target under targets:, not in defaults:');
    if (RUN_LEVEL.has(name)) fail(line, `${escapeText(name)} is for the whole run: give --${escapeText(name)} on the command line`);
    const shape = byName.get(name);
    if (!shape) fail(line, `unknown key "${escapeText(name)}" (probe has no --${escapeText(name)}; see udsctl probe --help)`);
    keyLines.set(`--${name}`, line);
    const value = pair.value as Node | null;
    const values = isSeq(value) ? value.items : [value];
    if (isSeq(value) && !shape!.repeatable) fail(line, `${name}: one value, not a list`);
    for (const v of values as (Node | null)[]) {
      const raw = isScalar(v) ? v.value : undefined;
      if (!shape!.takesValue) {
        if (raw !== 'true' && raw !== 'false') fail(line, `${name}: true or false`);
        if (raw === 'true') args.push(`--${name}`);
        continue;
      }
      // The failsafe schema: every value is text, as on a command line (0x12 stays "0x12", 1.0 stays "1.0").
      if (typeof raw !== 'string' || (raw === '' && !(isScalar(v) && v.type !== 'PLAIN'))) fail(line, `${name}: expected a value`);
      args.push(`--${name}=${raw}`);
    }
  }
  return { args, keyLines };
}

/** The line to name for a parse error of a target's arguments: the key the message names, else the target. */
export function lineOfError(t: ConfigTarget, message: string): number {
  let best: { at: number; line: number } | null = null;
  for (const [flag, line] of t.keyLines) {
    const m = new RegExp(`${flag}(?![\\w-])`).exec(message);
    if (m && (best === null || m.index < best.at)) best = { at: m.index, line };
  }
  return best?.line ?? t.line;
}
