/**
 * Shell completion scripts made from the command tree itself, so a new command or flag completes without another
 * edit. Completes commands and flags; chaos kinds for `get`; experiment names are left to the shell.
 */
import type { Command } from 'commander';
import { UsageError } from './errors.ts';
import { CHAOS_KINDS } from './experiments.ts';

interface Words {
  commands: string[];
  /** Long and short flags, global ones included, per command ('' for the root). */
  flags: Map<string, string[]>;
}

function words(program: Command): Words {
  const flagsOf = (c: Command): string[] => c.options.flatMap((o) => [o.long, o.short].filter((f): f is string => f !== undefined));
  const global = [...flagsOf(program), '--help'];
  const flags = new Map<string, string[]>([['', global]]);
  const commands = program.commands.map((c) => c.name());
  for (const c of program.commands) flags.set(c.name(), [...flagsOf(c), ...global]);
  return { commands, flags };
}

export function completionScript(program: Command, shell: string): string {
  const { commands, flags } = words(program);
  const kinds = CHAOS_KINDS.map((k) => k.names[0]).join(' ');
  const name = 'kubectl-kerris';
  switch (shell) {
    case 'bash': {
      const cases = [...flags.entries()].filter(([c]) => c !== '').map(([c, f]) => `    ${c}) flags="${f.join(' ')}" ;;`).join('\n');
      return `# bash completion for ${name}: source <(${name} completion bash)
_kubectl_kerris() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmd="" flags="${(flags.get('') ?? []).join(' ')}" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in -*) ;; *) cmd="\${COMP_WORDS[i]}"; break ;; esac
  done
  case "$cmd" in
${cases}
  esac
  if [[ -z "$cmd" && "$cur" != -* ]]; then COMPREPLY=($(compgen -W "${commands.join(' ')}" -- "$cur")); return; fi
  if [[ "$cmd" == get && "$cur" != -* ]]; then COMPREPLY=($(compgen -W "${kinds} all" -- "$cur")); return; fi
  COMPREPLY=($(compgen -W "$flags" -- "$cur"))
}
complete -F _kubectl_kerris ${name}
`;
    }
    case 'zsh':
      return `#compdef ${name}
# zsh completion for ${name}: source <(${name} completion zsh)
_kubectl_kerris() {
  if (( CURRENT == 2 )); then compadd -- ${commands.join(' ')}; return; fi
  case "$words[2]" in
${[...flags.entries()].filter(([c]) => c !== '').map(([c, f]) => `    ${c}) compadd -- ${f.join(' ')}${c === 'get' ? ` ${kinds} all` : ''} ;;`).join('\n')}
  esac
}
compdef _kubectl_kerris ${name}
`;
    case 'fish':
      return [`# fish completion for ${name}: ${name} completion fish | source`,
        ...program.commands.map((c) => `complete -c ${name} -n __fish_use_subcommand -a ${c.name()} -d ${JSON.stringify(c.description())}`),
        ...[...flags.entries()].filter(([c]) => c !== '').flatMap(([c, f]) => f.filter((x) => x.startsWith('--')).map((x) => `complete -c ${name} -n "__fish_seen_subcommand_from ${c}" -l ${x.slice(2)}`)),
        `complete -c ${name} -n "__fish_seen_subcommand_from get" -a "${kinds} all"`, ''].join('\n');
    default:
      throw new UsageError(`completion for ${JSON.stringify(shell)}: use bash, zsh or fish`);
  }
}
