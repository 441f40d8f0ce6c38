/**
 * The one table of short flags (issue 22): a letter means the same in every
 * subcommand that has it. Where two commands give a letter two meanings, each
 * follows a convention its users already know (`anchor`), and that command's
 * --help says so. test/flags.test.ts checks every short flag of every
 * subcommand against this table, and the README and the man page carry it
 * (rendered by `shortFlagTable`).
 */

/** 'udsctl': the program itself (udsctl -V); 'all': every command and the program. */
export type FlagCommand = 'send' | 'serve' | 'probe' | 'bench' | 'udsctl' | 'all';

export interface ShortFlag {
  short: string;
  long: string;
  commands: readonly FlagCommand[];
  meaning: string;
  /** The convention the letter follows (curl, nc, Nagios plugins...). */
  anchor?: string;
}

export const SHORT_FLAGS: readonly ShortFlag[] = [
  { short: '-h', long: '--help', commands: ['all'], meaning: 'help' },
  { short: '-V', long: '--version', commands: ['udsctl'], meaning: 'the version' },
  { short: '-t', long: '--timeout', commands: ['send', 'probe', 'bench'], meaning: 'bound on a reply' },
  { short: '-u', long: '--until', commands: ['send', 'probe', 'bench'], meaning: 'where a reply ends' },
  { short: '-x', long: '--hex', commands: ['send', 'probe'], meaning: 'the message is hex digits' },
  { short: '-N', long: '--half-close', commands: ['send', 'probe', 'bench'], meaning: 'shut down our write side after sending', anchor: 'nc -N' },
  { short: '-H', long: '--header', commands: ['send', 'probe', 'bench'], meaning: 'an HTTP request header', anchor: 'curl' },
  { short: '-X', long: '--method', commands: ['send', 'probe', 'bench'], meaning: 'the HTTP method', anchor: 'curl' },
  { short: '-i', long: '--include', commands: ['send'], meaning: 'print the response head too', anchor: 'curl' },
  { short: '-e', long: '--expect', commands: ['probe', 'bench'], meaning: 'the reply must contain TEXT' },
  { short: '-E', long: '--expect-regex', commands: ['probe'], meaning: 'the reply must match RE' },
  { short: '-s', long: '--send', commands: ['probe'], meaning: 'the payload to send' },
  { short: '-k', long: '--keep-alive', commands: ['serve', 'probe'], meaning: 'a persistent protocol' },
  { short: '-q', long: '--quiet', commands: ['serve', 'probe'], meaning: 'print nothing (serve: no per-connection log)' },
  { short: '-v', long: '--verbose', commands: ['send'], meaning: 'the timeline on stderr' },
  { short: '-r', long: '--reply', commands: ['serve'], meaning: 'the reply text' },
  { short: '-f', long: '--fault', commands: ['serve'], meaning: 'misbehave on purpose' },
  { short: '-w', long: '--warn', commands: ['probe'], meaning: 'response time that is WARNING', anchor: 'Nagios plugins' },
  { short: '-c', long: '--crit', commands: ['probe'], meaning: 'response time that is CRITICAL', anchor: 'Nagios plugins' },
  { short: '-c', long: '--connections', commands: ['bench'], meaning: 'connections at once', anchor: 'autocannon, wrk' },
  { short: '-d', long: '--duration', commands: ['bench'], meaning: 'length of the run', anchor: 'autocannon, wrk' },
  { short: '-n', long: '--requests', commands: ['bench'], meaning: 'stop after N requests', anchor: 'ab, hey' },
  { short: '-p', long: '--pipeline', commands: ['bench'], meaning: 'requests in flight per connection', anchor: 'autocannon' },
  { short: '-R', long: '--rate', commands: ['bench'], meaning: 'requests a second, open loop', anchor: 'wrk2' },
  { short: '-m', long: '--mode', commands: ['bench'], meaning: 'oneshot or persistent' },
];

const cmds = (f: ShortFlag) => (f.commands.includes('all') ? 'all' : f.commands.map((c) => (c === 'udsctl' ? 'udsctl itself' : c)).join(', '));

/** The table as Markdown rows (README.md carries exactly these). */
export function shortFlagTable(): string {
  const rows = SHORT_FLAGS.map((f) => `| \`${f.short}\` | \`${f.long}\` | ${cmds(f)} | ${f.meaning}${f.anchor ? ` (as ${f.anchor})` : ''} |`);
  return ['| flag | long form | commands | meaning |', '|---|---|---|---|', ...rows].join('\n');
}
