/**
 * `udsctl ls`'s command line: options and help text (the command itself is
 * src/commands/ls.ts, loaded when it runs).
 */
import { type Command, Option } from 'commander';
import { LS_SORTS, LS_TYPES } from '../core/ls/options.js';
import { processIo } from '../io.js';
import { Done } from './common.js';

/** `udsctl ls`: its options, help text and action. */
export function defineLs(program: Command): void {
  program
    .command('ls')
    .description('list listening sockets: who listens, who may connect, queues, clients, service; stale files')
    .argument('[path...]', 'only sockets at or under these paths (folders are walked for stale files), or @prefix')
    .addOption(new Option('--type <types>', `only these: ${LS_TYPES.join(', ')} (comma-separated)`).argParser(Object.assign((v: string, prev: string[] | undefined) => [...(prev ?? []), v], { choices: LS_TYPES })))
    .option('--service <name>', 'only sockets recognised as this service (postgresql, fastcgi, docker, ...; another name lists the names)')
    .option('--stale', 'only stale socket files (nobody listens) and listeners whose file was deleted')
    .option('--tcp', 'TCP listeners on loopback (and on every address) too')
    .addOption(new Option('--sort <key>', 'order by').choices(LS_SORTS).default('name'))
    .option('--json', 'print the list as JSON (names exact; base64 beside names that are not UTF-8)')
    .option('--watch [interval]', 'live view of accept queues, clients and new connections a second (default 1s; a bare number is seconds)')
    .addHelpText(
      'after',
      `
Nothing is sent to any socket: names and queues come from the kernel
(sock_diag), processes from /proc/PID/fd, owners and modes from the files.
Stale files are looked for under /run, /var/run, /tmp and $XDG_RUNTIME_DIR,
or under the folders given. YOU says whether you may connect; the line under
a socket you may not use says why. A process another user runs is shown as
?/OWNER unless you are root. --watch redraws in place on a terminal and
prints a line per change otherwise; Ctrl-C ends it (exit 0).

Examples:
  udsctl ls                                  # every listening socket
  udsctl ls /run/php --stale                 # stale files under /run/php
  udsctl ls --service postgresql --json
  udsctl ls --tcp --sort queue
  udsctl ls --watch 2s /run/php              # a php-fpm pool under load`,
    )
    .action(async (paths: string[], opts) => {
      const { runLs } = await import('../commands/ls.js');
      throw new Done(await runLs(paths, opts, processIo()));
    });
}
