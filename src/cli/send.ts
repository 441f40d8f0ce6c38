/**
 * `udsctl send`'s command line: options, defaults and help text (the command
 * itself is src/commands/send.ts, loaded when it runs).
 */
import { type Command, Option } from 'commander';
import { END_RULE_HELP } from '../core/framing/end-rule.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_TIMEOUT_MS, DEFAULT_TIMEOUT_TEXT } from '../core/defaults.js';
import { DEFAULT_MAX_REPLY } from '../core/exchange.js';
import { processIo } from '../io.js';
import { durationOption, sizeOption, untilOption } from '../options.js';
import { addProtocolOptions } from '../protocol-options.js';
import { Done, ESCAPES_HELP, LITERAL_FLAG, typeOption } from './common.js';

/** `udsctl send`: its options, help text and action. */
export function defineSend(program: Command): void {
  const command = program
    .command('send')
    .description('send a message to a socket and print the reply; never hangs')
    .argument('<target>', 'socket path, @name, or host:port')
    .argument('[message]', 'message to send; "-" reads stdin (also read when stdin is piped and no message is given)')
    .option('-x, --hex', 'the message is hex digits ("48 69 0a")')
    .option('--escapes', 'understand escapes in stdin too (in a message argument they are understood anyway; kept for scripts written when they were not)')
    .option(LITERAL_FLAG, 'send the message argument as written: no escapes')
    .option('--newline', 'append a newline to the message (default: sent exactly as given)')
    .addOption(new Option('-u, --until <rule>', `end of reply: ${END_RULE_HELP}`).default(untilOption('eof'), 'eof').argParser(untilOption))
    .addOption(new Option('-t, --timeout <duration>', 'bound on the reply, from connect to end of reply: a hard deadline (above 0)').default(DEFAULT_TIMEOUT_MS, DEFAULT_TIMEOUT_TEXT).argParser(durationOption('--timeout', { positive: true })))
    .addOption(new Option('--connect-timeout <duration>', 'bound on connecting (above 0)').default(DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_TIMEOUT_TEXT).argParser(durationOption('--connect-timeout', { positive: true })))
    .option('-N, --half-close', 'shut down our write side after sending (for servers that read to end-of-file)')
    .option('-v, --verbose', 'print the timeline of the exchange to stderr')
    .option('--json', 'print the exchange record as JSON on stdout instead of the reply')
    .addOption(new Option('--max-reply <size>', 'bytes of reply kept for --json and -v (beyond: counted, "truncated": true; --json exits 12); the reply on stdout is streamed whole').default(DEFAULT_MAX_REPLY, '1MiB').argParser(sizeOption('--max-reply')))
    // The interactive session (src/commands/send-session.ts).
    .option('--interactive', 'hold a session: stdin to the socket and the reply to stdout as they come, both at once (the default on a terminal with no message or "-")')
    .option('--crlf', 'in a session, send each newline as \\r\\n (line protocols such as SMTP, Redis)')
    .addOption(typeOption('Unix socket type (default: as /proc/net/unix lists it, else found by connecting): stream, seqpacket, dgram'))
    .addHelpText(
      'after',
      `
Datagram and seqpacket sockets: the message goes as one datagram (message).
dgram: done once the kernel took it, unless --until or --json asks for a
reply (then udsctl binds an address of its own and waits for one datagram).
seqpacket: the reply is one message unless --until says otherwise.

${ESCAPES_HELP} Bytes read from stdin are
sent as they are, unless --escapes.

The reply bytes go to stdout exactly as received, as they arrive; diagnostics
go to stderr. A message from stdin is streamed to the socket as it is read.
A server that replies but never closes: with --until eof (default) send waits
--timeout, prints the reply, says so on stderr and exits 8: a persistent
protocol needs --until (line, idle:, len:) or a protocol flag to end the reply.

Examples:
  udsctl send /tmp/odc_ws.sock hi
  udsctl send /run/app.sock 'GET / HTTP/1.0\\r\\n\\r\\n'
  printf 'PING\\r\\n' | udsctl send --until line /run/redis.sock
  udsctl send --json --until line @my-abstract-socket hi
  udsctl send --crlf /run/redis.sock              # a session: type PING, Enter
  udsctl send --fastcgi /status /run/php/php8.2-fpm.sock

A session (--interactive, or a terminal and no message): each line typed is
sent on Enter; replies are shown as they come, escaped, with their time in a
margin (raw bytes when stdout is not a terminal); Ctrl-D ends the input
(half-close) and waits up to --timeout for the server to close; Ctrl-C ends
it (exit 130). What was typed and not sent is discarded, never left for the
shell. With stdin piped, both directions stream at once, as with nc.
On seqpacket and dgram each line (typed or piped) is one message and each
message received one block; dgram binds an address of its own for the
replies, and Ctrl-D waits --timeout for more datagrams, then exits 0.`,
    )
    .action(async (target: string, message: string | undefined, opts, cmd: Command) => {
      const { runSend } = await import('../commands/send.js');
      opts.untilGiven = cmd.getOptionValueSource('until') !== 'default';
      const io = processIo();
      const status = await runSend(target, message, opts, io);
      // stdout's reader stopped reading: exit at once (its pending write would hold us past --timeout).
      throw new Done(status, io.outputStuck);
    });
  // Protocols (issue 11): --http, --resp and their companions.
  addProtocolOptions(command, 'send');
  command.addHelpText('after', PROTOCOL_EXAMPLES);
}

/** Help examples of the protocol flags. */
const PROTOCOL_EXAMPLES = `
Protocols (the request is made for you; the reply is framed by the protocol):
  udsctl send --http / /run/nginx.sock                       # prints the body
  udsctl send -i --http /api -X POST --header 'Content-Type: application/json' --data '{"a":1}' /run/app.sock
  udsctl send --resp 'GET mykey' /run/redis/redis.sock
  udsctl send --until len:4le /run/native-host.sock '\\x07\\0\\0\\0{"a":1}'`;
