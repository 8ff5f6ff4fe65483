"""The README's three examples run as written (in process, on a fresh folder)."""

import re
import shlex
from pathlib import Path

import pytest

from zeroad.cli import main

ROOT = Path(__file__).resolve().parents[1]


def code_blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(), re.S)


def shell_commands(block: str) -> list[list[str]]:
    """The commands of a bash block as argument lists (quotes may span lines)."""
    commands, pending = [], ""
    for line in block.replace("\\\n", " ").splitlines(keepends=True):
        pending += line
        try:
            words = shlex.split(pending)
        except ValueError:  # an open quote: the command goes on
            continue
        if words:
            commands.append(words)
        pending = ""
    assert not pending.strip(), f"unbalanced quotes in {block!r}"
    return commands


def run_shell_block(block: str) -> None:
    """Each command of a bash block: `zeroad ...` through the CLI, `python -c` by exec."""
    for words in shell_commands(block):
        if words[0] == "zeroad":
            assert main(words[1:]) == 0, words
        elif words[:2] == ["python", "-c"]:
            exec(words[2], {})
        else:
            pytest.fail(f"the README runs an unexpected command: {words}")


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_readme_python_example_runs(in_tmp, capsys):
    (python_example,) = code_blocks(ROOT / "README.md", "python")
    exec(python_example, {})
    assert "AUC" in capsys.readouterr().out


def test_the_readme_command_line_and_physics_examples_run(in_tmp):
    setup, command_line, physics = code_blocks(ROOT / "README.md", "bash")
    assert "pip install" in setup and "pytest" in setup
    run_shell_block(command_line)
    assert {"model.zad", "scores.csv", "eval.html"} <= {p.name for p in in_tmp.iterdir()}
    # The guide's first Python block; the end-to-end section's own run in test_physics_cli.
    make_root_files = code_blocks(ROOT / "docs" / "physics-guide.md", "python")[0]
    exec(make_root_files, {})
    run_shell_block(physics)
    assert (in_tmp / "physics.html").is_file() and (in_tmp / "physics_scores.parquet").is_file()
