"""Packaging: `toolace-r --version`, the license file and the build requirement its SPDX field needs."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import toolace_r
from toolace_r.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_version_flag_prints_the_installed_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == toolace_r.__version__ == importlib.metadata.version("toolace-r")
    assert runner.invoke(app, ["version"]).stdout == r.stdout  # the command says the same


def test_version_flag_from_the_console():
    out = subprocess.run([sys.executable, "-m", "toolace_r", "--version"], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == toolace_r.__version__ and not out.stderr


def test_license_file_and_build_requirement_match_the_license_field():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "Apache-2.0"
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").split()[:4] == ["Apache", "License", "Version", "2.0,"]
    # an SPDX license expression (PEP 639) needs setuptools >= 77 to build
    (setuptools,) = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    assert int(re.fullmatch(r"setuptools>=(\d+).*", setuptools).group(1)) >= 77
