"""The README stays true: every setting and every command is documented."""

from __future__ import annotations

from pathlib import Path

from bot.cli import parser
from bot.settings import SETTINGS
from handlers import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented():
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in README]
    assert missing == []


def test_every_cli_command_is_documented():
    subcommands = parser()._subparsers._group_actions[0].choices
    missing = [name for name in subcommands if f"backpain-bot {name}" not in README]
    assert missing == []


def test_every_telegram_command_is_documented():
    missing = [name for name, _ in COMMANDS if f"`/{name}`" not in README]
    assert missing == []


def test_the_test_command_in_the_readme_is_the_one_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python -m pytest" in README and "python -m pytest" in ci


def test_every_test_named_in_security_md_exists():
    import re

    root = Path(__file__).resolve().parent.parent
    text = (root / "docs" / "SECURITY.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)", text))
    assert named
    missing = [
        (f, t)
        for f, t in named
        if not (root / f).exists() or f"def {t}(" not in (root / f).read_text()
    ]
    assert missing == []


OUTSIDE = ("../shared", "CLINICAL.md", "DESIGN.md", "STYLE.md", "seeds/")
NOT_OURS = {
    ".git",
    ".venv",
    "tests",
    "__pycache__",
    ".hypothesis",
    ".pytest_cache",
    "data",
    "build",
    "dist",
}


def _project_files():
    """The tracked files (git ls-files), or every file outside NOT_OURS where git is missing."""
    import os
    import subprocess

    try:
        listed = (
            subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
            .stdout.decode()
            .split("\0")
        )
        paths = [ROOT / name for name in listed if name]
    except (OSError, subprocess.CalledProcessError):
        paths = []
        for folder, dirs, files in os.walk(ROOT):
            dirs[:] = [d for d in dirs if d not in NOT_OURS and not d.endswith(".egg-info")]
            paths += [Path(folder) / f for f in files]
    for path in sorted(paths):
        if path.is_file() and not NOT_OURS & set(path.relative_to(ROOT).parts):
            yield path


def test_nothing_points_outside_the_repository():
    """The project keeps its own account (docs/design.md, docs/clinical-rules.md)."""
    found = []
    for path in _project_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        found += [(str(path.relative_to(ROOT)), name) for name in OUTSIDE if name in text]
    assert found == []


def test_the_project_owns_its_design_and_clinical_rules():
    for name in ("design.md", "clinical-rules.md"):
        assert (ROOT / "docs" / name).stat().st_size > 2000
        assert f"docs/{name}" in README


def test_the_readme_tables_are_generated_from_the_registries():
    """`python -m tests.readme_tables` rewrites them; CI runs it with --check."""
    from tests.readme_tables import render

    assert render(README) == README


def test_a_new_command_or_setting_gets_a_row():
    from tests import readme_tables

    cli = readme_tables.cli_table("")
    assert "`backpain-bot clinic [--db PATH] create NAME [--timezone ZONE]`" in cli
    assert all(f"`/{name}`" in readme_tables.telegram_table("") for name, _ in COMMANDS)
    assert all(f"`{s.name}`" in readme_tables.settings_table() for s in SETTINGS)
