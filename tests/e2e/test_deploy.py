"""The deployment files in deploy/: what can be checked without a container engine or a
running systemd. The compose file is read as YAML (and checked by `docker compose config`
or `docker-compose config` where one is installed), the systemd units by
`systemd-analyze verify`, and every role command and variable they name by pdfprompt's own
parser and settings."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from pdfprompt.cli import parser
from tests.support.processes import PDFPROMPT

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ROLE_SERVICES = ("migrate", "api1", "api2", "worker1", "worker2")
UNITS = ("pdfprompt-migrate.service", "pdfprompt-api.service", "pdfprompt-worker.service")
SHUTDOWN_GRACE_S = 30  # PDFPROMPT_SHUTDOWN_GRACE_S's default and the files' value


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def _seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+)(s|min)", text)
    assert match, text
    return int(match[1]) * (60 if match[2] == "min" else 1)


def _settings_names() -> set[str]:
    """Every variable docs/configuration.md describes (generated from the settings)."""
    return set(
        re.findall(r"^\| `([A-Z0-9_]+)`", (ROOT / "docs/configuration.md").read_text(), re.M)
    )


def _check_variables(names: set[str]) -> None:
    ours = {n for n in names if n.startswith(("PDFPROMPT_", "DATABASE_")) or n.isupper()}
    unknown = (
        ours
        - _settings_names()
        - {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}
    )
    assert not unknown, f"not settings of pdfprompt: {sorted(unknown)}"


def test_compose_has_the_roles_wired_to_the_migration_and_checked() -> None:
    services = _compose()["services"]
    assert set(ROLE_SERVICES) <= services.keys()
    assert {"postgres", "minio", "make-bucket", "redis"} <= services.keys()
    for name in ROLE_SERVICES:
        service = services[name]
        args = parser().parse_args(service["command"])  # a real pdfprompt command
        _check_variables(set(service["environment"]))
        if name == "migrate":
            assert service["command"] == ["db", "upgrade"] and service["restart"] == "no"
            assert service["depends_on"] == {"postgres": {"condition": "service_healthy"}}
            continue
        depends = service["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}
        assert depends["make-bucket"] == {"condition": "service_completed_successfully"}
        check = " ".join(service["healthcheck"]["test"])
        if name.startswith("api"):
            assert args.command == "api" and "/readyz" in check
        else:
            assert args.command == "worker" and check == "CMD pdfprompt worker --check"
            assert service["environment"]["PDFPROMPT_WORKER_METRICS_PORT"]
            assert _seconds(service["stop_grace_period"]) > SHUTDOWN_GRACE_S
    for name in ("postgres", "minio", "redis"):
        assert services[name]["healthcheck"]["test"]
    assert {"8001:8000", "8002:8000"} == {p for s in ("api1", "api2") for p in services[s]["ports"]}


def test_compose_config_is_valid_where_a_compose_is_installed() -> None:
    if shutil.which("docker-compose"):
        command = ["docker-compose"]
    elif (
        shutil.which("docker")
        and subprocess.run(
            ["docker", "compose", "version"], capture_output=True, timeout=30
        ).returncode
        == 0
    ):
        command = ["docker", "compose"]
    else:
        pytest.skip("neither docker-compose nor docker compose is installed")
    result = subprocess.run(
        [*command, "-f", str(DEPLOY / "compose.yaml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_systemd_units_verify_and_run_real_commands(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    for unit in UNITS:
        text = (DEPLOY / "systemd" / unit).read_text()
        (command,) = re.findall(r"^ExecStart=/opt/pdfprompt/bin/pdfprompt (.+)$", text, re.M)
        parser().parse_args(shlex.split(command))
        for setting in (
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "CapabilityBoundingSet=\n",
        ):
            assert setting in text, (unit, setting)
        # The unit as installed, but running this pdfprompt (verify checks that it exists).
        (tmp_path / unit).write_text(text.replace("/opt/pdfprompt/bin/pdfprompt", PDFPROMPT))
    worker = (DEPLOY / "systemd" / "pdfprompt-worker.service").read_text()
    assert "KillMode=mixed" in worker  # SIGTERM to pdfprompt, not to its Chromium
    (stop,) = re.findall(r"^TimeoutStopSec=(\S+)$", worker, re.M)
    assert _seconds(stop) > SHUTDOWN_GRACE_S
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    result = subprocess.run(
        [analyze, "verify", "--man=no", *(str(tmp_path / u) for u in UNITS)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # A misspelt or wrong setting is only a warning: none may be printed.
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_the_env_example_names_only_settings() -> None:
    text = (DEPLOY / "systemd" / "pdfprompt.env.example").read_text()
    names = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", text, re.M))
    assert {"DATABASE_URL", "PDFPROMPT_STORAGE_URL", "PDFPROMPT_SECRET_KEY"} <= names
    _check_variables(names)


def test_the_image_installs_what_setup_installs() -> None:
    """The Containerfile's system packages are those scripts/setup.sh installs for the
    service, Chromium's headless shell first among them; tini passes SIGTERM to pdfprompt."""
    setup = (ROOT / "scripts/setup.sh").read_text()
    (listed,) = re.findall(r"^SYSTEM_PACKAGES=\(([^)]*)\)", setup, re.M)
    containerfile = (DEPLOY / "Containerfile").read_text()
    runtime = containerfile.split("\nFROM ")[-1]
    installed = set(re.findall(r"apt-get install[^&]*", runtime)[0].replace("\\", " ").split())
    assert set(listed.split()) <= installed
    assert 'ENTRYPOINT ["/usr/bin/tini", "--", "/opt/pdfprompt/bin/pdfprompt"]' in containerfile
    assert "USER pdfprompt" in runtime
    # The Python packages at the versions the tests ran with, as scripts/setup.sh installs.
    assert "constraints=requirements/constraints.txt" in setup
    assert '-c "$constraints"' in setup and '--build-constraint "$constraints"' in setup
    assert "ENV PIP_CONSTRAINT=/src/requirements/constraints.txt" in containerfile
    assert "!requirements" in (DEPLOY / "Containerfile.dockerignore").read_text().split()


def test_every_dependency_is_pinned() -> None:
    """requirements/constraints.txt pins every package pyproject.toml asks for (its
    dependencies, every extra, the build backend) and the installers, at a version the
    requirement allows: one added or raised without `scripts/lock.sh` would come at
    whatever version is newest the day it is installed, or not install at all."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = pyproject["project"]
    wanted = [*project["dependencies"], *pyproject["build-system"]["requires"], "uv", "pip"]
    for extra in project["optional-dependencies"].values():
        wanted += extra
    pins: dict[str, list[Version]] = {}
    for line in (ROOT / "requirements/constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith(("#", " ")):
            name, version = line.split(";")[0].split("==")
            pins.setdefault(_normal(name), []).append(Version(version.strip()))
    unpinned = []
    for spec in wanted:
        requirement = Requirement(spec)
        versions = pins.get(_normal(requirement.name), [])
        if not any(requirement.specifier.contains(v, prereleases=True) for v in versions):
            unpinned.append(f"{spec} (pinned: {[str(v) for v in versions]})")
    assert len(wanted) > 60 and not unpinned, unpinned


def _normal(name: str) -> str:
    """A package name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()
