/**
 * The program's shell, for any set of commands: the root command, its
 * outputs, and the one place that turns results into an exit status. Each
 * command's options, defaults and help text are src/cli/<command>.ts; the
 * table of them is given by the entry (src/cli.ts: every command;
 * src/cli-send.ts: send alone, the bundle `udsctl send` starts with).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Help, type Option } from 'commander';
import { UdsError } from '../core/errors.js';
import { escapeText } from '../core/escape.js';
import { EXIT, EXIT_TABLE, exitStatusFor } from '../exit-codes.js';
import { exactArgv } from '../io.js';
import { fitHelp, helpColumns } from '../render/help.js';
import { Done } from './common.js';

const USAGE_CODES: ReadonlySet<string> = new Set(['BAD_TARGET', 'PATH_TOO_LONG', 'BAD_DURATION', 'BAD_OPTION', 'NOT_SUPPORTED']);

/** Exit status for a usage error, per command (probe answers UNKNOWN like a monitoring plugin). */
const usageStatus = (cmd: string): number => (cmd === 'probe' ? 3 : EXIT.USAGE);

/** Set by the bundler (scripts/bundle.mjs); read from package.json otherwise. */
declare const __UDSCTL_VERSION__: string | undefined;

function version(): string {
  if (typeof __UDSCTL_VERSION__ === 'string') return __UDSCTL_VERSION__;
  try {
    return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

export const COMMANDS = ['send', 'serve', 'probe', 'bench', 'ls'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** The entry's commands: each defines itself on the program (completion: always, when given). */
export type CommandTable = Partial<Record<CommandName | 'completion', (program: Command) => void>>;

export interface Cli {
  /**
   * The program; with `only`, just that subcommand (what a run of it needs:
   * defining the others costs a few ms of every start).
   */
  buildProgram(only?: CommandName): Command;
  /** Run the CLI; resolves with the exit status (never throws). */
  main(argv: string[]): Promise<number>;
}

/** The CLI over these commands. */
export function makeCli(defs: CommandTable): Cli {
  function buildProgram(only?: CommandName): Command {
    const want = (name: CommandName) => only === undefined || only === name;
    const program = new Command('udsctl')
      .description('Diagnose Unix domain socket IPC (and TCP): send, serve, probe, bench')
      .version(version(), '-V, --version')
      .addHelpText(
        'after',
        `
Targets: /path/to.sock, ./rel.sock, unix:PATH, @abstract-name (Linux), host:port, tcp://host:port

Exit status (send, serve, bench; probe uses 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN):
${EXIT_TABLE.map((r) => `  ${String(r.status).padStart(3)}  ${r.meaning}`).join('\n')}

See 'udsctl <command> --help' and man udsctl.`,
      );

    for (const name of COMMANDS) if (want(name)) defs[name]?.(program);
    // Always defined (main() builds the whole program for it): the script is generated from all of the above.
    defs.completion?.(program);

    for (const cmd of program.commands) configureOutputs(cmd);
    configureOutputs(program);
    return program;
  }

  async function main(argv: string[]): Promise<number> {
    quietOnClosedPipes();
    if (argv === process.argv) argv = exactArgv(argv);
    const program = buildProgram(COMMANDS.find((c) => c === argv[2]));
    const sub = argv.slice(2).find((a) => !a.startsWith('-')) ?? '';
    try {
      await program.parseAsync(argv);
      return EXIT.OK;
    } catch (err) {
      if (err instanceof Done) {
        // send: stdout's reader stopped reading, and its pending write would hold us past --timeout.
        if (err.now) process.exit(err.status);
        return err.status;
      }
      if (err instanceof CommanderError) {
        if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.OK;
        // commander.executeSubCommandAsync etc. fall through as usage errors; the message was printed by outputError.
        return usageStatus(sub);
      }
      if (err instanceof UdsError) {
        const cmd = program.commands.find((c) => c.name() === sub);
        if (USAGE_CODES.has(err.code)) {
          process.stderr.write(`udsctl ${sub}: ${escapeText(err.message)}\nusage: udsctl ${sub} ${cmd?.usage() ?? ''}\n`);
          return usageStatus(sub);
        }
        process.stderr.write(`udsctl ${sub}: ${escapeText(err.message)}\n`);
        return sub === 'probe' ? 3 : exitStatusFor(err.code);
      }
      process.stderr.write(`udsctl: internal error: ${escapeText((err as Error)?.message ?? String(err))}\n`);
      if (process.env.UDSCTL_DEBUG) process.stderr.write(`${(err as Error)?.stack}\n`);
      return sub === 'probe' ? 3 : EXIT.INTERNAL;
    }
  }

  return { buildProgram, main };
}

/** The option's own description names each of its choices: commander need not list them again. */
const namesChoices = (o: Option) => !!o.argChoices?.every((c) => new RegExp(`(^|[^\\w-])${c}([^\\w-]|$)`).test(o.description));

function configureOutputs(cmd: Command): void {
  cmd.exitOverride();
  cmd.configureHelp({
    optionDescription(o: Option): string {
      const shown = namesChoices(o) ? Object.assign(Object.create(Object.getPrototypeOf(o)), o, { argChoices: undefined }) : o;
      return Help.prototype.optionDescription.call(this, shown);
    },
  });
  cmd.configureOutput({
    // The help's free text fits the width commander wraps the options to (src/render/help.ts).
    getOutHelpWidth: () => helpColumns(process.stdout),
    getErrHelpWidth: () => helpColumns(process.stderr),
    writeOut: (str) => process.stdout.write(fitHelp(str, helpColumns(process.stdout))),
    outputError: (str, write) => {
      const usage = cmd.parent ? `usage: udsctl ${cmd.name()} ${cmd.usage()}` : `usage: udsctl ${cmd.usage()}`;
      write(`udsctl${cmd.parent ? ` ${cmd.name()}` : ''}: ${str.replace(/^error: /, '').trim()}\n${usage}\n`);
    },
  });
}

/**
 * A reader that goes away (`udsctl --help | head -3`) only ends our output: no
 * unhandled 'error' event with its stack trace, and the command still ends with
 * its own status (a probe cut short by `| head` must not turn healthy). A lost
 * stderr (a server's log) never stops the work either.
 */
function quietOnClosedPipes(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') return;
    process.stderr.write(`udsctl: cannot write to standard output: ${err.message}\n`);
    process.exit(EXIT.INTERNAL);
  });
  process.stderr.on('error', () => {});
}

