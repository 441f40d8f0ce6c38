/**
 * A vitest reporter that prints, after the usual summary, one line per kind of
 * skip that test/helpers/requirements.ts makes: the interop tests whose peer
 * is not installed (with the apt-get line that installs them) and the tests
 * that need root. It reads the skip notes, so it counts exactly the tests that
 * skipped, in whichever worker they ran.
 */
import type { RunnerTask, RunnerTestFile } from 'vitest';
import type { Reporter } from 'vitest/reporters';
import { OPTIONAL_PEERS, type OptionalPeer, PEER_NOTE, ROOT_NOTE } from './peer-table.js';

function* tests(tasks: readonly RunnerTask[]): Generator<RunnerTask> {
  for (const t of tasks) {
    if (t.type === 'suite') yield* tests(t.tasks);
    else yield t;
  }
}

/** The summary lines for the skip notes of a run (empty when nothing skipped for a missing peer or root). */
export function skipSummary(notes: readonly string[]): string[] {
  let peerTests = 0;
  let rootTests = 0;
  const missing = new Set<string>();
  for (const note of notes) {
    if (note.startsWith(PEER_NOTE)) {
      peerTests++;
      for (const c of note.slice(PEER_NOTE.length).split(' ')) if (c) missing.add(c);
    } else if (note.startsWith(ROOT_NOTE)) rootTests++;
  }
  const lines: string[] = [];
  if (peerTests > 0) {
    const pkgs = [...missing].map((c) => OPTIONAL_PEERS[c as OptionalPeer] ?? c);
    const s = peerTests === 1 ? '' : 's';
    lines.push(`skipped ${peerTests} interop test${s}: ${pkgs.join(', ')} not installed — apt-get install ${pkgs.join(' ')}`);
  }
  if (rootTests > 0) {
    const s = rootTests === 1 ? '' : 's';
    lines.push(`skipped ${rootTests} test${s} that need root (they drop to uid 65534 or change a file's group): run npm test as root to include them`);
  }
  return lines;
}

export default class SkipSummaryReporter implements Reporter {
  // onFinished, not onTestRunEnd: the default reporter prints its summary there, and this line goes after it.
  onFinished(files: RunnerTestFile[] = []): void {
    const notes: string[] = [];
    for (const f of files) {
      for (const t of tests(f.tasks)) {
        // The runner keeps ctx.skip(note)'s note on the result; TaskResult's type does not declare it.
        const note = (t.result as { note?: string } | undefined)?.note;
        if (t.result?.state === 'skip' && note) notes.push(note);
      }
    }
    const lines = skipSummary(notes);
    if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
  }
}
