/**
 * The CLI with every command: what `udsctl` runs (bundled by
 * scripts/bundle.mjs; `udsctl send` starts a smaller bundle of the same
 * shell, src/cli-send.ts). The shell is src/cli/program.ts; each command's
 * options, defaults and help text are src/cli/<command>.ts (test/docs.test.ts
 * checks them against the README and the man page); each action loads its
 * command module lazily (start-up time matters for a CLI CI calls thousands of
 * times).
 */
import { type Command, CommanderError } from 'commander';
import { UdsError } from './core/errors.js';
import { defineBench } from './cli/bench.js';
import { defineCompletion } from './cli/completion.js';
import { defineLs } from './cli/ls.js';
import { defineProbe } from './cli/probe.js';
import { makeCli } from './cli/program.js';
import { defineSend } from './cli/send.js';
import { defineServe } from './cli/serve.js';

export const { buildProgram, main } = makeCli({
  send: defineSend,
  serve: defineServe,
  probe: (program: Command) => defineProbe(program, parseProbeArgs),
  bench: defineBench,
  ls: defineLs,
  completion: defineCompletion,
});

/** Parse probe arguments as the command line would be (same checks, same hooks), without running a probe. */
async function parseProbeArgs(args: string[]): Promise<{ targets: string[]; flags: Record<string, unknown> }> {
  const program = buildProgram('probe');
  const cmd = program.commands.find((c) => c.name() === 'probe')!;
  let error = '';
  for (const c of [program, cmd]) c.configureOutput({ outputError: (s) => void (error = s), writeErr: () => true, writeOut: () => true });
  let out: { targets: string[]; flags: Record<string, unknown> } | undefined;
  cmd.action((targets: string[], opts, c: Command) => {
    opts.sendGiven = c.getOptionValueSource('send') !== 'default';
    opts.untilGiven = c.getOptionValueSource('until') !== 'default';
    out = { targets, flags: opts };
  });
  try {
    await program.parseAsync(['probe', ...args], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) throw new UdsError('BAD_OPTION', error.replace(/^error: /, '').trim() || err.message);
    throw err;
  }
  if (!out) throw new UdsError('BAD_OPTION', 'no probe to run');
  return out;
}

