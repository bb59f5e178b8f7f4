"""A clone without ../shared next to it: the spec-reading tests skip with one line, except under CI where they fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

# Enough of the repository to collect the golden tariff tests; the packages themselves come from the virtualenv.
FILES = ["pyproject.toml", "tests/__init__.py", "tests/conftest.py", "tests/unit/__init__.py",
         "tests/unit/test_tariff_golden.py"]  # fmt: skip


@pytest.fixture
def lone_clone(tmp_path: Path) -> Path:
    """A copy of the repository's test files in a folder that has no ``shared`` beside it."""
    clone = tmp_path / "clone"
    for name in FILES:
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, clone / name)
    assert not (tmp_path / "shared").exists()
    return clone


def run_golden(clone: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "tests/unit/test_tariff_golden.py", "-q", "-rs", "-p", "no:cacheprovider"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_without_shared_the_spec_tests_skip_saying_what_they_need(lone_clone: Path) -> None:
    result = run_golden(lone_clone, ci=None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "needs ../shared/specs (the OCPI spec examples and OpenAPI schemas)" in result.stdout
    assert " skipped" in result.stdout and "failed" not in result.stdout and "error" not in result.stdout
    # the golden tests that build their own tariffs need nothing outside the repository and still run
    assert " passed" in result.stdout


def test_without_shared_the_spec_tests_fail_under_ci(lone_clone: Path) -> None:
    result = run_golden(lone_clone, ci="true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert " failed" in result.stdout and "needs ../shared/specs" in result.stdout
