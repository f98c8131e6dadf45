"""scripts/setup-debian.sh, the system set-up of the test command and of CI:
it installs only what is missing, through sudo when not root, says what to
install where apt-get is missing, and is the one list of packages."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "setup-debian.sh"


def fake_system(tmp_path: Path, *, installed: list[str], uid: int, tools: tuple[str, ...]) -> dict[str, str]:
    """A PATH of fake dpkg-query, id, apt-get and sudo that log their calls to calls.log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    scripts = {
        "dpkg-query": 'for p in {installed}; do [ "$p" = "${{@: -1}}" ] '
        '&& printf "install ok installed" && exit 0; done; exit 1',
        "id": f"echo {uid}",
        "apt-get": f'echo "apt-get $*" >>{log}',
        "sudo": f'echo "sudo $1" >>{log}; "$@"',
    }
    for name in ("dpkg-query", "id", *tools):
        path = bin_dir / name
        path.write_text("#!/bin/bash\n" + scripts[name].format(installed=" ".join(installed)) + "\n")
        path.chmod(0o755)
    # bash, grep and friends from a folder of their own, so a real apt-get or sudo is not found.
    system = tmp_path / "system"
    system.mkdir()
    for tool in ("bash", "grep", "cat", "echo", "printf"):
        found = shutil.which(tool)
        if found:
            (system / tool).symlink_to(found)
    return {**os.environ, "PATH": f"{bin_dir}:{system}"}


def run_setup(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [shutil.which("bash"), str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_only_missing_packages_are_installed_through_sudo_when_not_root(tmp_path):
    env = fake_system(tmp_path, installed=["cmake", "ffmpeg"], uid=1000, tools=("apt-get", "sudo"))
    done = run_setup(env)
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "calls.log").read_text().splitlines()
    install = [c for c in calls if c.startswith("apt-get install")]
    assert "sudo apt-get" in calls and len(install) == 1, calls
    assert "libgtest-dev" in install[0].split() and "build-essential" in install[0].split()
    assert "cmake" not in install[0].split() and "ffmpeg" not in install[0].split()
    assert "clang" not in install[0].split()  # only --ci adds the sanitizer and fuzzing tools


def test_ci_adds_its_tools_and_root_needs_no_sudo(tmp_path):
    env = fake_system(tmp_path, installed=[], uid=0, tools=("apt-get",))
    done = run_setup(env, "--ci")
    assert done.returncode == 0, done.stderr
    install = [c for c in (tmp_path / "calls.log").read_text().splitlines() if c.startswith("apt-get install")]
    assert len(install) == 1 and {"clang", "libbenchmark-dev", "libgtest-dev", "shellcheck"} <= set(install[0].split())


def test_without_apt_get_it_says_what_to_install_and_carries_on(tmp_path):
    env = fake_system(tmp_path, installed=[], uid=0, tools=())
    done = run_setup(env)
    assert done.returncode == 0
    assert "no apt-get" in done.stderr and "libgtest-dev" in done.stderr
    assert not (tmp_path / "calls.log").exists()


@pytest.mark.parametrize("user", ["scripts/test.sh", ".ci/run"])
def test_the_test_command_and_ci_set_up_through_the_script(user):
    text = (REPO / user).read_text(encoding="utf-8")
    assert "bash scripts/setup-debian.sh" in text
    assert "apt-get install" not in text  # one list of packages: the script's
