"""deploy/compose.yaml names only phota commands, options and settings that exist."""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest
import typer
import yaml

from phota.cli import app
from phota.config import Settings
from tests.conftest import ROOT

COMPOSE = ROOT / "deploy" / "compose.yaml"


def _argv(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def phota_commands(document: dict[str, Any]) -> dict[str, list[str]]:
    """Service name → argv, for every service that runs the phota command line."""
    out = {}
    for name, service in document["services"].items():
        argv = _argv(service)
        if argv and argv[0] == "phota":
            out[name] = argv
    return out


def command_problems(argv: list[str]) -> list[str]:
    """What in ``phota ...`` the Typer app does not know: sub-commands and options."""
    command: Any = typer.main.get_command(app)
    args = argv[1:]
    while args and not args[0].startswith("-"):
        # Typer ships its own click-compatible classes: groups are recognised by their sub-commands.
        if args[0] not in getattr(command, "commands", {}):
            return [f"no sub-command {args[0]!r} in {shlex.join(argv)!r}"]
        command = command.commands[args[0]]
        args = args[1:]
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    return [
        f"no option {arg.split('=')[0]!r} for {command.name!r}"
        for arg in args
        if arg.startswith("-") and arg.split("=")[0] not in known
    ]


def setting_problems(text: str) -> list[str]:
    """Every PHOTA_* name in the file (environment keys and ${...} references) must be a setting."""
    names = set(re.findall(r"\bPHOTA_[A-Z0-9_]+", text))
    return sorted(n for n in names if n.removeprefix("PHOTA_").lower() not in Settings.model_fields)


DOCUMENT = yaml.safe_load(COMPOSE.read_text())
COMMANDS = phota_commands(DOCUMENT)


def test_compose_runs_the_whole_scale_out_set() -> None:
    services = DOCUMENT["services"]
    assert {"postgres", "s3", "migrate", "api"} <= set(services)
    assert COMMANDS["migrate"] == ["phota", "migrate"]
    assert COMMANDS["api"][:2] == ["phota", "serve"] and services["api"]["deploy"]["replicas"] >= 2
    workers = [argv for argv in COMMANDS.values() if argv[1] == "worker"]
    queues = {q for argv in workers for q in argv[argv.index("--queues") + 1].split(",")}
    assert {"training", "studio", "callbacks", "maintenance"} <= queues


@pytest.mark.parametrize("service", sorted(COMMANDS))
def test_phota_commands_exist(service: str) -> None:
    assert command_problems(COMMANDS[service]) == []


def test_settings_exist() -> None:
    assert setting_problems(COMPOSE.read_text()) == []


def test_the_checks_catch_what_does_not_exist() -> None:
    assert command_problems(["phota", "migrate"]) == []  # control
    assert command_problems(["phota", "frobnicate"]) == ["no sub-command 'frobnicate' in 'phota frobnicate'"]
    assert command_problems(["phota", "migrate", "--fast"]) == ["no option '--fast' for 'migrate'"]
    assert command_problems(["phota", "serve", "--port=8000"]) == []
    assert setting_problems("PHOTA_BLOB_URL: x\n  PHOTA_NO_SUCH_THING: y ${PHOTA_OTHER:-z}") == [
        "PHOTA_NO_SUCH_THING",
        "PHOTA_OTHER",
    ]
