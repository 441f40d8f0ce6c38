/**
 * `udsctl completion bash|zsh|fish`: a completion script generated from the
 * same commander program as --help (buildProgram()), so a new option, command
 * or choice is completed as soon as it is in --help. One data model read from
 * commander (completionModel), one small generator per shell.
 *
 * Static scripts, not a callback into udsctl on every TAB: completing costs
 * no Node start, and the script works wherever it is installed.
 */
import type { Argument, Command, Option } from 'commander';
import { type Io, writeAll } from '../io.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** What a value is completed with: fixed words, file names (socket paths), group names, or nothing. */
export type ValueKind = { kind: 'choices'; choices: readonly string[] } | { kind: 'files' } | { kind: 'groups' } | { kind: 'none' };

export interface OptionModel {
  short?: string;
  long?: string;
  description: string;
  /** null: a flag that takes no value. */
  value: ValueKind | null;
}

export interface ArgumentModel {
  name: string;
  variadic: boolean;
  value: ValueKind;
}

export interface CommandModel {
  name: string;
  description: string;
  options: OptionModel[];
  args: ArgumentModel[];
}

export interface CompletionModel {
  name: string;
  options: OptionModel[];
  commands: CommandModel[];
}

/** Choices of an option: commander's .choices(), or those a parser made by choiceOption() carries. */
function choicesOf(o: { argChoices?: string[]; parseArg?: unknown }): readonly string[] | undefined {
  if (o.argChoices?.length) return o.argChoices;
  const carried = (o.parseArg as { choices?: readonly string[] } | undefined)?.choices;
  return carried?.length ? carried : undefined;
}

/** Targets (sockets) and paths complete as file names; a group as a group name. */
function valueKind(name: string, choices: readonly string[] | undefined): ValueKind {
  if (choices) return { kind: 'choices', choices };
  if (/^(target|path|file|socket)s?$/i.test(name)) return { kind: 'files' };
  if (name === 'group') return { kind: 'groups' };
  return { kind: 'none' };
}

function optionModel(o: Option): OptionModel {
  const takesValue = o.required || o.optional;
  const valueName = /<([^>]+)>|\[([^\]]+)\]/.exec(o.flags);
  return {
    short: o.short,
    long: o.long,
    description: o.description,
    value: takesValue ? valueKind((valueName?.[1] ?? valueName?.[2] ?? '').replace(/\.\.\.$/, ''), choicesOf(o)) : null,
  };
}

function argumentModel(a: Argument): ArgumentModel {
  return { name: a.name(), variadic: a.variadic, value: valueKind(a.name(), choicesOf(a)) };
}

/** The completion data of a program: what its --help lists (visible commands and options). */
export function completionModel(program: Command): CompletionModel {
  const help = program.createHelp();
  return {
    name: program.name(),
    options: help.visibleOptions(program).map(optionModel),
    commands: help
      .visibleCommands(program)
      .filter((c) => c.name() !== 'help')
      .map((c) => ({
        name: c.name(),
        description: c.description(),
        options: help.visibleOptions(c).map(optionModel),
        args: c.registeredArguments.map(argumentModel),
      })),
  };
}

/** `udsctl completion SHELL`: the script on stdout; exit 0. */
export async function runCompletion(shell: Shell, program: Command, io: Io): Promise<number> {
  await writeAll(io.stdout, completionScript(shell, completionModel(program)));
  return 0;
}

/** The completion script for `shell`. */
export function completionScript(shell: Shell, model: CompletionModel): string {
  return { bash, zsh, fish }[shell](model);
}

const flagsOf = (o: OptionModel): string[] => [o.short, o.long].filter((f): f is string => !!f);
/** A name usable in a shell function name. */
const ident = (s: string): string => s.replace(/[^A-Za-z0-9_]/g, '_');
/** Single-quoted for sh, bash, zsh. */
const sq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
/** The first clause of a description, on one line and at most 60 characters (a hint, not the manual). */
const short = (s: string): string => {
  const first = s.replace(/\s+/g, ' ').split(/; | \(/)[0]!.trim();
  return first.length > 60 ? `${first.slice(0, 59).trimEnd()}…` : first;
};

// ---------------------------------------------------------------- bash

function bashValue(v: ValueKind): string {
  switch (v.kind) {
    case 'choices':
      return `COMPREPLY=($(compgen -W ${sq(v.choices.join(' '))} -- "$cur"))`;
    case 'files':
      return '__udsctl_files';
    case 'groups':
      return 'COMPREPLY=($(compgen -g -- "$cur"))';
    case 'none':
      return 'COMPREPLY=()';
  }
}

function bashCommand(fn: string, c: CommandModel): string {
  const valued = c.options.filter((o) => o.value);
  const lines: string[] = [];
  lines.push(`${fn}_${ident(c.name)}() {`);
  lines.push('  case "$prev" in');
  for (const o of valued) lines.push(`    ${flagsOf(o).join('|')}) ${bashValue(o.value!)}; return ;;`);
  lines.push('  esac');
  lines.push(`  if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W ${sq(c.options.flatMap(flagsOf).join(' '))} -- "$cur")); return; fi`);
  // Which positional argument is being typed: words after the command, less options and their values.
  lines.push(`  local n=0 i skip=0 valued=${sq(` ${valued.flatMap(flagsOf).join(' ')} `)}`);
  lines.push('  for ((i = cmd_at + 1; i < COMP_CWORD; i++)); do');
  // --opt=value: bash splits it at the = (COMP_WORDBREAKS); the value after it is no argument.
  lines.push('    if [[ "${COMP_WORDS[i]}" == "=" ]]; then skip=1; continue; fi');
  lines.push('    if ((skip)); then skip=0; continue; fi');
  lines.push('    case "${COMP_WORDS[i]}" in');
  lines.push('      --) ;;');
  lines.push('      -*) [[ "$valued" == *" ${COMP_WORDS[i]} "* ]] && skip=1 ;;');
  lines.push('      *) n=$((n + 1)) ;;');
  lines.push('    esac');
  lines.push('  done');
  lines.push('  case "$n" in');
  c.args.forEach((a, i) => {
    const last = i === c.args.length - 1;
    lines.push(`    ${i}${last && a.variadic ? '|*' : ''}) ${bashValue(a.value)} ;;`);
  });
  lines.push('    *) COMPREPLY=() ;;');
  lines.push('  esac');
  lines.push('}');
  return lines.join('\n');
}

function bash(m: CompletionModel): string {
  const fn = `_${ident(m.name)}`;
  const names = m.commands.map((c) => c.name);
  return `# bash completion for ${m.name}, generated by \`${m.name} completion bash\` from its --help.
# Install: ${m.name} completion bash > /etc/bash_completion.d/${m.name}
#      or: echo 'source <(${m.name} completion bash)' >> ~/.bashrc

__udsctl_files() {
  local IFS=$'\\n'
  compopt -o filenames 2>/dev/null
  COMPREPLY=($(compgen -f -- "$cur"))
}

${m.commands.map((c) => bashCommand(fn, c)).join('\n\n')}

${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="" cmd="" cmd_at=0 i
  ((COMP_CWORD > 0)) && prev="\${COMP_WORDS[COMP_CWORD - 1]}"
  # --opt=value: bash splits the word at the =. Right after the =, the value is empty; past it, the option is two words back.
  if [[ "$cur" == "=" ]]; then cur=""
  elif [[ "$prev" == "=" ]] && ((COMP_CWORD > 1)); then prev="\${COMP_WORDS[COMP_CWORD - 2]}"
  fi
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      ${names.join('|')}) cmd="\${COMP_WORDS[i]}"; cmd_at=$i; break ;;
    esac
  done
  case "$cmd" in
${m.commands.map((c) => `    ${c.name}) ${fn}_${ident(c.name)} ;;`).join('\n')}
    *)
      if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W ${sq(m.options.flatMap(flagsOf).join(' '))} -- "$cur"))
      else
        COMPREPLY=($(compgen -W ${sq([...names, 'help'].join(' '))} -- "$cur"))
      fi ;;
  esac
}
complete -F ${fn} ${m.name}
`;
}

// ---------------------------------------------------------------- zsh

/** Text inside an _arguments spec's [description] or a _describe entry. */
const zdesc = (s: string): string => short(s).replace(/\\/g, '\\\\').replace(/([[\]:])/g, '\\$1');

function zshAction(v: ValueKind): string {
  switch (v.kind) {
    case 'choices':
      return `(${v.choices.map((c) => c.replace(/([\s()\\:])/g, '\\$1')).join(' ')})`;
    case 'files':
      return '_files';
    case 'groups':
      return '_groups';
    case 'none':
      return ' ';
  }
}

function zshOption(o: OptionModel): string {
  const flags = flagsOf(o);
  const exclusive = flags.length > 1 ? `(${flags.join(' ')})` : '';
  const names = flags.length > 1 ? `{${flags.join(',')}}` : flags[0];
  const value = o.value ? `:${o.long?.slice(2) ?? 'value'}:${zshAction(o.value)}` : '';
  // {-x,--hex} is brace expansion: it stays outside the quotes.
  return flags.length > 1 ? `${sq(exclusive)}${names}${sq(`[${zdesc(o.description)}]${value}`)}` : sq(`${names}[${zdesc(o.description)}]${value}`);
}

function zsh(m: CompletionModel): string {
  const fn = `_${ident(m.name)}`;
  const cmds = m.commands.map((c) => `    ${sq(`${c.name}:${zdesc(c.description)}`)}`).join('\n');
  const perCommand = m.commands
    .map((c) => {
      const specs = [
        ...c.options.map(zshOption),
        ...c.args.map((a, i) => sq(`${a.variadic ? '*' : String(i + 1)}:${a.name}:${zshAction(a.value)}`)),
      ];
      return `        ${c.name})\n          _arguments -s -S \\\n            ${specs.join(' \\\n            ')}\n          ;;`;
    })
    .join('\n');
  return `#compdef ${m.name}
# zsh completion for ${m.name}, generated by \`${m.name} completion zsh\` from its --help.
# Install: ${m.name} completion zsh > "\${fpath[1]}/_${m.name}"   (then start a new shell)
#      or: echo 'source <(${m.name} completion zsh)' >> ~/.zshrc   (after compinit)

${fn}() {
  local curcontext="$curcontext" state line
  typeset -A opt_args
  _arguments -C \\
    ${m.options.map(zshOption).join(' \\\n    ')} \\
    '1: :->command' \\
    '*:: :->args'
  case $state in
    command)
      local -a commands
      commands=(
${cmds}
      )
      _describe -t commands 'udsctl command' commands
      ;;
    args)
      case $line[1] in
${perCommand}
      esac
      ;;
  esac
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  ${fn} "$@"
else
  compdef ${fn} ${m.name}
fi
`;
}

// ---------------------------------------------------------------- fish

const fq = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function fishValue(v: ValueKind): string {
  switch (v.kind) {
    case 'choices':
      return `-x -a ${fq(v.choices.join(' '))}`;
    case 'files':
      return '-r -F';
    case 'groups':
      return "-x -a '(__fish_complete_groups)'";
    case 'none':
      return '-x';
  }
}

function fishOption(cmd: string, condition: string, o: OptionModel): string {
  const parts = [`complete -c ${cmd} -n ${fq(condition)}`];
  if (o.short) parts.push(`-s ${o.short.slice(1)}`);
  if (o.long) parts.push(`-l ${o.long.slice(2)}`);
  if (o.value) parts.push(fishValue(o.value));
  parts.push(`-d ${fq(short(o.description))}`);
  return parts.join(' ');
}

function fish(m: CompletionModel): string {
  const names = m.commands.map((c) => c.name).join(' ');
  const lines = [
    `# fish completion for ${m.name}, generated by \`${m.name} completion fish\` from its --help.`,
    `# Install: ${m.name} completion fish > ~/.config/fish/completions/${m.name}.fish`,
    '',
    `complete -c ${m.name} -f`,
    ...m.options.map((o) => fishOption(m.name, `not __fish_seen_subcommand_from ${names}`, o)),
    ...m.commands.map((c) => `complete -c ${m.name} -n ${fq(`not __fish_seen_subcommand_from ${names}`)} -a ${c.name} -d ${fq(short(c.description))}`),
  ];
  for (const c of m.commands) {
    const cond = `__fish_seen_subcommand_from ${c.name}`;
    lines.push('', ...c.options.map((o) => fishOption(m.name, cond, o)));
    const positional = [...new Set(c.args.map((a) => a.value))];
    for (const v of positional) {
      if (v.kind === 'files') lines.push(`complete -c ${m.name} -n ${fq(cond)} -F`);
      if (v.kind === 'choices') lines.push(`complete -c ${m.name} -n ${fq(cond)} -a ${fq(v.choices.join(' '))}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
