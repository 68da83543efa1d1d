"""Every example in README.md is exercised, so the README cannot drift from the code:

* the offline examples (``labelproof score``, ``labelproof merkle``) run as written;
* every ``labelproof`` command line in any shell block names a command that exists and only
  options that command takes (the chain-bound blocks run for real in
  tests/e2e/test_walkthrough.py, the walkthrough, and in the settlement tests);
* the deploy config example parses with its placeholders filled in.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from labelproof.deploy import DeployConfig

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"```(sh|yaml)\n(.*?)```", re.S)


def blocks(kind: str) -> list[str]:
    return [body for k, body in BLOCK.findall(README) if k == kind]


def command_lines() -> list[str]:
    """Every `labelproof ...` invocation in the shell blocks, continuations joined."""
    found: list[str] = []
    for body in blocks("sh"):
        text = body.replace("\\\n", " ")
        for line in text.splitlines():
            code = line.split(" #")[0]
            for match in re.finditer(r"(?:^|[;&|(]\s*|\$\()\s*labelproof ([^;&|)]*)", code):
                found.append(match.group(1).strip())
    return found


def _argparse_options(parser: argparse.ArgumentParser, words: list[str]) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and words:
            sub = action.choices.get(words[0])
            assert sub is not None, f"no subcommand {words[0]!r}"
            return _argparse_options(sub, words[1:])
    return {o for a in parser._actions for o in a.option_strings}


def options_of(words: list[str]) -> tuple[str, set[str]]:
    """The command named by the leading `words` and the options it takes."""
    from labelproof.audit.cli import _parser as audit_parser
    from labelproof.cli import app
    from labelproof.oracle.__main__ import _parser as oracle_parser

    if words and words[0] == "oracle":
        return "oracle", _argparse_options(oracle_parser(), words[1:2])
    if words and words[0] == "audit":
        return "audit", _argparse_options(audit_parser(), [])
    # typer may carry its own copy of click: groups are told by their commands, not their class
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    for word in words:
        if word in getattr(command, "commands", {}):
            command = command.commands[word]
            path.append(word)
        else:
            break
    assert not hasattr(command, "commands"), f"`labelproof {' '.join(words)}`: no command"
    options = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    return " ".join(path), options | {"--help"}


def test_readme_has_the_examples_this_test_reads() -> None:
    lines = command_lines()
    assert len(lines) > 30, lines
    assert any(line.startswith("deploy ") for line in lines)


@pytest.mark.parametrize("line", sorted(set(command_lines())))
def test_every_readme_command_line_names_real_options(line: str) -> None:
    words = line.split()
    name, options = options_of(words)
    used = {w.split("=")[0] for w in words if w.startswith("--")}
    unknown = used - options
    assert not unknown, f"README: `labelproof {line}`: {name} takes no {sorted(unknown)}"


def test_offline_examples_run_as_written(tmp_path: Path) -> None:
    offline = [b for b in blocks("sh") if "labelproof score" in b or "labelproof merkle" in b]
    assert len(offline) == 2
    (tmp_path / "labelproof").symlink_to(ROOT / "labelproof")
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    for body in offline:
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", body],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"README example failed:\n{body}\n{done.stderr}"
    work = tmp_path / "work"
    assert {p.name for p in (work / "out").iterdir()} == {
        "labels.csv",
        "workers.csv",
        "report.json",
    }
    assert (work / "tree.json").exists()


def test_deploy_config_example_parses() -> None:
    (example,) = [b for b in blocks("yaml") if "settlement:" in b]
    filled = iter(f"0x{n:040x}" for n in range(1, 100))
    text = re.sub(r"0x\.\.\.", lambda _: next(filled), example)
    cfg = DeployConfig.from_dict(yaml.safe_load(text), source="README.md")
    assert cfg.threshold == 2 and len(cfg.oracles) == 3
