"""README.md's tables of settings, CLI commands and Telegram commands, made from the registries.

    python -m tests.readme_tables           rewrite the tables in README.md
    python -m tests.readme_tables --check   exit 1 if README.md is out of date (CI runs this)

Which rows there are, their order and the generated cells come from the registries:
`bot.settings.SETTINGS` (name, default, help), `bot.cli.parser()` (each command's usage) and
`handlers.COMMANDS` / `CLINIC_COMMANDS`. The prose cells of the command tables are written in
README.md itself and kept by key when the tables are regenerated; a new command starts with its
registry help, a removed one loses its row. Each table sits between two markers:
`<!-- BEGIN GENERATED name -->` and `<!-- END GENERATED name -->`.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

# How the README spells the arguments argparse names by their dest (clearer than DB, OUT).
METAVARS = {
    "db": "PATH",
    "transcript": "PATH",
    "scenario": "FILE",
    "timezone": "ZONE",
    "cohort": "ID",
    "days": "N",
    "clinician": "NUMBER",
    "invite": "NUMBER",
    ("export", "out"): "DIR",
    ("backup", "out"): "FILE",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _split_row(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _kept_prose(old: str, key_of) -> dict[str, list[str]]:
    """The cells after the first of each existing row, by the key its first cell names."""
    kept = {}
    for line in old.splitlines():
        cells = _split_row(line) if line.startswith("|") else []
        if len(cells) > 1 and not set(cells[0]) <= set("-: "):
            key = key_of(cells[0])
            if key:
                kept[key] = cells[1:]
    return kept


# --- settings -------------------------------------------------------------------------------


def settings_table(old: str = "") -> str:
    from bot.settings import SETTINGS

    lines = ["| setting | default | meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default not in ("", None) else "(none)"
        meaning = s.help.replace("Secret:", "**Secret**:")
        lines.append(_row([f"`{s.name}`", default, _cell(meaning)]))
    return "\n".join(lines)


# --- the command line -----------------------------------------------------------------------


def _metavar(command: str, action: argparse.Action) -> str:
    if action.metavar:
        return str(action.metavar)
    return METAVARS.get((command, action.dest), METAVARS.get(action.dest, action.dest.upper()))


def _usage(command: str, actions: list[argparse.Action]) -> list[str]:
    words = []
    for action in actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.help == argparse.SUPPRESS:  # e.g. a clinic action's own --db (also after it)
            continue
        if not action.option_strings:
            words.append(_metavar(command, action))
            continue
        word = action.option_strings[-1]
        if action.nargs != 0:
            word += " " + _metavar(command, action)
        words.append(word if action.required else f"[{word}]")
    return words


def _cli_commands():
    """(key, usage) per command: `clinic create` and the like for nested ones."""
    from bot.cli import parser

    top = parser()._subparsers._group_actions[0]
    for name, sub in top.choices.items():
        own = _usage(name, sub._actions)
        nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
        if not nested:
            yield name, " ".join(["backpain-bot", name, *own])
            continue
        for action_name, action_parser in nested[0].choices.items():
            usage = ["backpain-bot", name, *own, action_name, *_usage(name, action_parser._actions)]
            yield f"{name} {action_name}", " ".join(usage)


def _cli_key(cell: str) -> str | None:
    words = cell.strip("`").split()
    if words[:1] != ["backpain-bot"]:
        return None
    return " ".join([w for w in words[1:] if re.fullmatch(r"[a-z][a-z-]*", w)][:2])


def cli_table(old: str = "") -> str:
    from bot.cli import parser

    helps = {a.dest: a.help for a in parser()._subparsers._group_actions[0]._choices_actions}
    kept = _kept_prose(old, _cli_key)
    lines = ["| command | what it does |", "|---|---|"]
    for key, usage in _cli_commands():
        prose = kept.get(key) or [_cell(helps.get(key.split()[0], "") or "")]
        lines.append(_row([f"`{usage}`", *prose]))
    return "\n".join(lines)


# --- Telegram commands ----------------------------------------------------------------------


def _command_key(cell: str) -> str | None:
    match = re.fullmatch(r"`/(\w+)[^`]*`", cell)
    return match.group(1) if match else None


def telegram_table(old: str = "") -> str:
    from handlers import COMMANDS

    kept = _kept_prose(old, _command_key)
    lines = ["| command | who | what |", "|---|---|---|"]
    for name, help_text in COMMANDS:
        prose = kept.get(name) or ["anyone", _cell(help_text)]
        lines.append(_row([f"`/{name}`", *prose]))
    return "\n".join(lines)


def clinic_table(old: str = "") -> str:
    from handlers import CLINIC_COMMANDS

    kept = _kept_prose(old, _command_key)
    lines = ["| command | what it does |", "|---|---|"]
    for name, help_text in CLINIC_COMMANDS:
        # The registry's help starts with the arguments: "ID: the roster".
        args, _, what = help_text.partition(": ") if ": " in help_text else ("", "", help_text)
        usage = _cell(f"/{name} {args}".strip())
        prose = kept.get(name) or [_cell(what)]
        lines.append(_row([f"`{usage}`", *prose]))
    return "\n".join(lines)


TABLES = {
    "settings": settings_table,
    "cli": cli_table,
    "telegram": telegram_table,
    "clinic": clinic_table,
}


def render(text: str) -> str:
    """README text with every generated table made afresh from the registries."""
    for name, make in TABLES.items():
        pattern = re.compile(
            rf"(<!-- BEGIN GENERATED {name} [^\n]*-->\n)(.*?)(<!-- END GENERATED "
            rf"{name} -->)",
            re.S,
        )
        match = pattern.search(text)
        if match is None:
            raise SystemExit(f"README.md has no markers for the {name} table")
        text = text[: match.start(2)] + make(match.group(2)) + "\n" + text[match.end(2) :]
    return text


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--check", action="store_true", help="fail if README.md is out of date")
    check = args.parse_args(argv).check
    old = README.read_text(encoding="utf-8")
    new = render(old)
    if check:
        if new != old:
            print(
                "README.md's generated tables are out of date: run python -m tests.readme_tables",
                file=sys.stderr,
            )
            return 1
        return 0
    if new != old:
        README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
