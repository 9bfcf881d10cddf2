"""Shell completion scripts for bash, zsh and fish, generated from the CLI's own parser
(so every command, option and fixed choice is completed, and none goes stale)."""

import argparse
import shlex
from dataclasses import dataclass, field

PROG = "tui-billing"
FUNCTION = "_tui_billing"


@dataclass
class Command:
    """What completes after a command word: its options, the choices of its positional
    arguments, its own sub-commands; and its one-line help."""

    help: str = ""
    options: dict[str, str] = field(default_factory=dict)
    choices: list[str] = field(default_factory=list)
    valued: set[str] = field(default_factory=set)
    """Options that take a value (the next word is not a command)."""


def _sub_action(
    parser: argparse.ArgumentParser,
) -> "argparse._SubParsersAction[argparse.ArgumentParser] | None":
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def _describe(parser: argparse.ArgumentParser, help_text: str = "") -> Command:
    command = Command(help=help_text)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            command.choices += list(action.choices)
        elif action.option_strings:
            for option in action.option_strings:
                command.options[option] = (action.help or "").split("(")[0].strip()
                if action.nargs != 0:
                    command.valued.add(option)
        elif action.choices:
            command.choices += [str(choice) for choice in action.choices]
    return command


def commands(parser: argparse.ArgumentParser) -> tuple[Command, dict[str, Command]]:
    """The top level and each command (a nested one as ``webhooks add``)."""
    top = _describe(parser)
    found: dict[str, Command] = {}
    sub = _sub_action(parser)
    helps = {a.dest: a.help or "" for a in sub._choices_actions} if sub else {}
    for name, child in sub.choices.items() if sub else []:
        found[name] = _describe(child, helps.get(name, ""))
        nested = _sub_action(child)
        nested_helps = {a.dest: a.help or "" for a in nested._choices_actions} if nested else {}
        for inner, grandchild in nested.choices.items() if nested else []:
            found[f"{name} {inner}"] = _describe(grandchild, nested_helps.get(inner, ""))
    return top, found


def _words(command: Command) -> str:
    """A subcommand's choices and options as one quoted word list."""
    return shlex.quote(" ".join([*command.choices, *command.options]))


def bash(parser: argparse.ArgumentParser) -> str:
    top, found = commands(parser)

    def case(names: list[str]) -> str:
        return "\n".join(f"        {shlex.quote(name)}) words={_words(found[name])} ;;" for name in names)

    valued = "|".join(sorted(top.valued | {o for c in found.values() for o in c.valued}))
    return f"""# bash completion for {PROG}: eval "$({PROG} completion bash)"
{FUNCTION}() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" words="" i
    local -a seen=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            {valued}) ((i++)) ;;
            -*) ;;
            *) seen+=("${{COMP_WORDS[i]}}") ;;
        esac
    done
    case "${{seen[0]}} ${{seen[1]}}" in
{case([n for n in found if " " in n])}
        *) case "${{seen[0]}}" in
{case([n for n in found if " " not in n])}
            '') words={shlex.quote(" ".join([*top.choices, *top.options]))} ;;
           esac ;;
    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
complete -o default -F {FUNCTION} {PROG}
"""


def zsh(parser: argparse.ArgumentParser) -> str:
    """zsh runs the bash function through its bash completion layer."""
    return (
        f'# zsh completion for {PROG}: eval "$({PROG} completion zsh)"\n'
        "autoload -U +X bashcompinit && bashcompinit\n" + bash(parser).split("\n", 1)[1]
    )


def fish(parser: argparse.ArgumentParser) -> str:
    top, found = commands(parser)
    names = [n for n in found if " " not in n]

    def quoted(text: str) -> str:
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    lines = [f"# fish completion for {PROG}: {PROG} completion fish | source", f"complete -c {PROG} -f"]
    for option, help_text in top.options.items():
        flag = f"-l {option[2:]}" if option.startswith("--") else f"-s {option[1:]}"
        lines.append(f"complete -c {PROG} -n __fish_use_subcommand {flag} -d {quoted(help_text)}")
    for name in names:
        lines.append(f"complete -c {PROG} -n __fish_use_subcommand -a {name} -d {quoted(found[name].help)}")
    for name, command in found.items():
        words = name.split()
        condition = " && ".join(f"__fish_seen_subcommand_from {w}" for w in words)
        if len(words) == 1 and any(n.startswith(f"{name} ") for n in found):
            inner = [n.split()[1] for n in found if n.startswith(f"{name} ")]
            condition += f"; and not __fish_seen_subcommand_from {' '.join(inner)}"
        condition = condition.replace(" && ", "; and ")
        if command.choices:
            lines.append(f"complete -c {PROG} -n {quoted(condition)} -a {quoted(' '.join(command.choices))}")
        for option, help_text in command.options.items():
            flag = f"-l {option[2:]}" if option.startswith("--") else f"-s {option[1:]}"
            lines.append(f"complete -c {PROG} -n {quoted(condition)} {flag} -d {quoted(help_text)}")
    return "\n".join(lines) + "\n"


SHELLS = {"bash": bash, "zsh": zsh, "fish": fish}
