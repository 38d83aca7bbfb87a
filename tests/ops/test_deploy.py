"""deploy/ and .env.example: they must agree with the code they describe."""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from drawme.config import BotConfig, CommonConfig, EngineConfig, read_dotenv

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def settings_read_by_config() -> set[str]:
    """Every environment variable drawme/config.py reads (env.get("X"...) and _int(env, "X"...))."""
    source = (ROOT / "drawme" / "config.py").read_text()
    return set(re.findall(r'env(?:\.get\(|, )"([A-Z][A-Z0-9_]+)"', source))


def test_env_example_documents_every_setting_with_a_comment() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    documented = {}
    for index, line in enumerate(lines):
        if re.match(r"^[A-Z][A-Z0-9_]*=", line):
            documented[line.split("=")[0]] = lines[index - 1].startswith("#")
    read = settings_read_by_config()
    assert len(read) >= 20  # the regex really finds them
    assert read <= set(documented), f"missing from .env.example: {sorted(read - set(documented))}"
    assert all(documented.values()), "every setting needs a comment line above it"


def test_env_example_values_are_the_defaults() -> None:
    example = read_dotenv(ROOT / ".env.example") | {"BOT_TOKEN": "123:abc"}
    assert EngineConfig.from_env(example) == EngineConfig(common=CommonConfig())
    assert BotConfig.from_env(example) == BotConfig(common=CommonConfig(), token="123:abc")


def compose_health_commands() -> list[list[str]]:
    text = (DEPLOY / "compose.yaml").read_text()
    return [json.loads(found) for found in re.findall(r'test: (\["CMD".*\])', text)]


def test_each_container_keeps_its_own_heartbeat() -> None:
    """The data volume is shared by every engine replica and the bot; heartbeats are per container
    (a tmpfs over DATA_DIR/health), so one replica's beat never passes another's health check.
    Read from the file itself, so it holds where `docker compose` is not installed."""
    text = (DEPLOY / "compose.yaml").read_text()
    anchor = text.split("x-drawme: &drawme", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"\n  tmpfs:\n    - /data/health\n", anchor + "\n"), anchor
    assert re.findall(r"\n  (engine|bot):\n    <<: \*drawme\n", text) == ["engine", "bot"]
    assert CommonConfig(data_dir=Path("/data")).health_dir == Path("/data/health")


@pytest.mark.parametrize("role", ["engine", "bot"])
def test_the_deploy_health_checks_are_valid_commands(role: str, tmp_path: Path, ops_env) -> None:
    (compose_test,) = [command for command in compose_health_commands() if command[3] == role]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    healthcheck = re.search(r"HEALTHCHECK .*\\\n\s+CMD (.*?) \|\| exit 1", dockerfile).group(1)
    docker_test = shlex.split(healthcheck.replace('"$DRAWME_ROLE"', role))
    for command in (compose_test[1:], docker_test):
        assert command[:2] == ["python", "-m"]
        result = subprocess.run(
            [sys.executable, *command[1:]], env=ops_env, capture_output=True, text=True, timeout=60
        )
        # No heartbeat in an empty data dir: "unhealthy" (1), not a usage error (2).
        assert result.returncode == 1, result.stderr
        assert result.stdout.startswith(f"{role}: no heartbeat yet")


def read_unit(name: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read(DEPLOY / "systemd" / name)
    return unit


@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("drawme-engine.service", "-m engine serve"),
        ("drawme-bot.service", "-m bot"),
    ],
)
def test_systemd_units(name: str, command: str) -> None:
    service = read_unit(name)["Service"]
    assert service["ExecStart"].endswith(command)
    assert service["User"] == "drawme"
    assert service["EnvironmentFile"].startswith("/etc/drawme/")
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"]) >= 20
    assert service["ReadWritePaths"] == "/var/lib/drawme"


def docker_compose_works() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not docker_compose_works(), reason="`docker compose` is not available here")
def test_compose_file_is_valid_and_complete(tmp_path: Path) -> None:
    # compose reads ../.env relative to the file: validate a copy next to a throwaway .env.
    (tmp_path / "deploy").mkdir()
    shutil.copy(DEPLOY / "compose.yaml", tmp_path / "deploy" / "compose.yaml")
    (tmp_path / ".env").write_text("BOT_TOKEN=123:abc\n")
    result = subprocess.run(
        ["docker", "compose", "-f", str(tmp_path / "deploy" / "compose.yaml"), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    engine, bot = config["services"]["engine"], config["services"]["bot"]
    (device,) = engine["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"]
    assert "deploy" not in bot
    for service, role in ((engine, "engine"), (bot, "bot")):
        assert service["restart"] == "unless-stopped"
        assert service["healthcheck"]["test"][3:5] == [role, "health"]
        assert service["stop_grace_period"]
        assert service["environment"]["BOT_TOKEN"] == "123:abc"  # env_file was read
        (volume,) = service["volumes"]
        assert (volume["type"], volume["source"], volume["target"]) == ("volume", "drawme-data", "/data")
        # Each container's own heartbeat: the shared volume would give every engine replica one file.
        assert service["tmpfs"] == ["/data/health"]
    assert engine["command"] == ["python", "-m", "engine", "serve"]
    assert bot["command"] == ["python", "-m", "bot"]
    # Several engines (and hosts) meet in PostgreSQL; `--scale engine=N` needs nothing else.
    postgres = config["services"]["postgres"]
    assert postgres["healthcheck"]["test"][1] == "pg_isready"
    assert any(volume["target"] == "/var/lib/postgresql/data" for volume in postgres["volumes"])
    for service in (engine, bot):
        assert service["environment"]["DATABASE_URL"].startswith("postgresql://drawme:")
        assert service["environment"]["DATABASE_URL"].endswith("@postgres:5432/drawme")
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "container_name" not in engine and "ports" not in engine  # replicas must not clash
