/**
 * `udsctl completion`'s command line. Its script is generated from the whole
 * program (src/commands/completion.ts), so it is always defined.
 */
import { Argument, type Command } from 'commander';
import { SHELLS } from '../commands/completion.js';
import { processIo } from '../io.js';
import { Done } from './common.js';

/** `udsctl completion`: its argument, help text and action. */
export function defineCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a completion script for bash, zsh or fish: commands, options, choices, socket paths')
    .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS))
    .addHelpText(
      'after',
      `
Install (a global npm install cannot do this for you):
  udsctl completion bash > /etc/bash_completion.d/udsctl      # or: source <(udsctl completion bash) in ~/.bashrc
  udsctl completion zsh > "\${fpath[1]}/_udsctl"              # a folder on $fpath, then a new shell
  udsctl completion fish > ~/.config/fish/completions/udsctl.fish`,
    )
    .action(async (shell: (typeof SHELLS)[number]) => {
      const { runCompletion } = await import('../commands/completion.js');
      throw new Done(await runCompletion(shell, program, processIo()));
    });
}
