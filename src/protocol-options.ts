/**
 * The protocol flags of send, probe and bench (issue 11): --http PATH with
 * -X/--method, --header, --data (and send's -i/--include, probe's
 * --expect-status), and --resp 'CMD ARG...'. One place adds them to the three
 * commands, refuses what contradicts them, and turns them into a request and
 * its framing rule (the core's framers, src/core/framing/).
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { UdsError } from './core/errors.js';
import { parseMessage } from './core/escape.js';
import type { EndRule } from './core/framing/end-rule.js';
import { buildHttpRequest, httpMethod } from './core/framing/http-message.js';
import { encodeRespCommand, splitCommand } from './core/framing/resp-command.js';
import { buildFastcgiRequest } from './core/framing/fastcgi.js';

export interface ProtocolFlags {
  http?: string;
  method?: string;
  header?: string[];
  data?: string;
  resp?: string;
  /** FastCGI: the script to request (php-fpm's /ping, /status, a .php file). */
  fastcgi?: string;
  /** With --fastcgi: K=V params added to or replacing the defaults (repeatable). */
  param?: string[];
  /** send: print the HTTP response head too. */
  include?: boolean;
  /** send --resp: the values raw (redis-cli --raw); default: raw when stdout is not a terminal. */
  raw?: boolean;
  /** probe: the HTTP status that is OK (default: any 2xx). */
  expectStatus?: number;
  literal?: boolean;
}

export interface ProtocolRequest {
  protocol: 'http' | 'resp' | 'fastcgi';
  payload: Buffer;
  until: EndRule;
}

type Which = 'send' | 'probe' | 'bench';

/** Common methods, offered by shell completion; any other token is taken too. */
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const METHOD_PARSER = Object.assign((v: string): string => v, { choices: HTTP_METHODS });

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

function statusOption(v: string): number {
  if (!/^[1-5]\d\d$/.test(v.trim())) throw new InvalidArgumentError(`--expect-status must be an HTTP status from 100 to 599 (got "${v}")`);
  return Number(v);
}

/** What each command already has that a protocol flag replaces (its request or its end rule). */
const REPLACED: Record<Which, [string, string][]> = {
  send: [['until', '--until'], ['hex', '--hex'], ['newline', '--newline'], ['halfClose', '--half-close']],
  probe: [['until', '--until'], ['send', '--send'], ['hex', '--hex'], ['halfClose', '--half-close']],
  bench: [['until', '--until'], ['payload', '--payload'], ['size', '--size'], ['halfClose', '--half-close']],
};

/** Add --http/--resp and their companions to a command, with the checks that they fit its other flags. */
export function addProtocolOptions(cmd: Command, which: Which): void {
  cmd
    // <url-path>, not <path>: completion offers file names for a <path>.
    .option('--http <url-path>', 'speak HTTP/1.1: request URL-PATH, e.g. / (Host: localhost), frame the response by its headers')
    .addOption(new Option('-X, --method <method>', 'with --http: the request method (default GET; POST with --data)').argParser(METHOD_PARSER))
    .option('-H, --header <header>', "with --http: a request header 'Name: value' (repeatable)", collect)
    .option('--data <text>', 'with --http or --fastcgi: the request body (FastCGI: STDIN; escapes understood unless --literal)')
    .option('--resp <command>', "speak RESP (Redis): send the command 'CMD ARG...' as a RESP array, frame the reply")
    .option('--fastcgi <script>', 'speak FastCGI (php-fpm): request SCRIPT (/ping, /status, /var/www/x.php?q=1) as a responder, frame the reply to END_REQUEST')
    .option('--param <name=value>', 'with --fastcgi: a FastCGI param, added or replacing a default (repeatable)', collect);
  if (which === 'send') {
    cmd
      .option('-i, --include', 'with --http or --fastcgi: print the response head (status line and headers; the CGI head) before the body')
      .option('--raw', 'with --resp: print the values raw, as redis-cli --raw (the default when stdout is not a terminal)')
      .option('--no-raw', 'with --resp: print as redis-cli on a terminal, (integer) 1 and 1) "a" (the default on a terminal)');
  }
  if (which === 'probe') {
    cmd.addOption(new Option('--expect-status <status>', 'with --http or --fastcgi: the status that is healthy (default: any 2xx)').argParser(statusOption));
  }
  cmd.hook('preAction', (c) => {
    const o = c.opts() as ProtocolFlags & Record<string, unknown>;
    const given = (['http', 'resp', 'fastcgi'] as const).filter((k) => o[k] !== undefined).map((k) => `--${k}`);
    if (given.length > 1) throw new UdsError('BAD_OPTION', `${given.join(' and ')} contradict each other`);
    const proto = given[0] ?? null;
    if (o.raw !== undefined && proto !== '--resp') throw new UdsError('BAD_OPTION', `--${o.raw ? '' : 'no-'}raw goes with --resp`);
    if (o.param !== undefined && proto !== '--fastcgi') throw new UdsError('BAD_OPTION', '--param needs --fastcgi SCRIPT');
    if (proto === '--fastcgi') {
      // FastCGI's body is --data (or send's message); --include and --expect-status read its CGI head and Status:.
      for (const [k, flag] of [['method', '-X/--method'], ['header', '--header']] as const) {
        if (o[k] !== undefined) throw new UdsError('BAD_OPTION', `${flag} goes with --http; with --fastcgi give --param REQUEST_METHOD=... or --param HTTP_NAME=value`);
      }
    } else if (!proto) {
      for (const [k, flag] of [['method', '-X/--method'], ['header', '--header'], ['data', '--data'], ['include', '--include'], ['expectStatus', '--expect-status']] as const) {
        if (o[k] !== undefined) throw new UdsError('BAD_OPTION', `${flag} needs --http PATH`);
      }
      return;
    }
    if (proto === '--resp') {
      for (const [k, flag] of [['method', '-X/--method'], ['header', '--header'], ['data', '--data'], ['include', '--include'], ['expectStatus', '--expect-status']] as const) {
        if (o[k] !== undefined) throw new UdsError('BAD_OPTION', `${flag} goes with --http, not --resp`);
      }
    }
    for (const [k, flag] of REPLACED[which]) {
      if (c.getOptionValueSource(k) === 'cli') throw new UdsError('BAD_OPTION', `${proto} makes the request and frames the reply: leave out ${flag}`);
    }
    if (which === 'send' && c.args.length > 1) {
      if (proto !== '--fastcgi') throw new UdsError('BAD_OPTION', `${proto} makes the request: give no message`);
      if (o.data !== undefined) throw new UdsError('BAD_OPTION', '--fastcgi sends one body: give --data or a message, not both');
    }
  });
}

/**
 * The request and framing rule the flags ask for, or null when no protocol flag is given.
 * `close`: one request per connection (HTTP Connection: close; FastCGI without FCGI_KEEP_CONN,
 * also the default there). `stdin`: send's message, FastCGI's body when there is no --data.
 */
export function protocolRequest(f: ProtocolFlags, opts: { close?: boolean; stdin?: Buffer } = {}): ProtocolRequest | null {
  if (f.fastcgi !== undefined) {
    const stdin = f.data === undefined ? opts.stdin : parseMessage(f.data, f.literal);
    const keepConn = opts.close === false;
    return { protocol: 'fastcgi', payload: buildFastcgiRequest({ script: f.fastcgi, params: f.param, stdin, keepConn }), until: { kind: 'fastcgi', keepConn } };
  }
  if (f.http !== undefined) {
    const data = f.data === undefined ? undefined : parseMessage(f.data, f.literal);
    const spec = { path: f.http, method: f.method, headers: f.header, data, close: opts.close };
    return { protocol: 'http', payload: buildHttpRequest(spec), until: { kind: 'http', head: httpMethod(spec) === 'HEAD' } };
  }
  if (f.resp !== undefined) return { protocol: 'resp', payload: encodeRespCommand(splitCommand(f.resp)), until: { kind: 'resp' } };
  return null;
}
