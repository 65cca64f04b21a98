"""Packaging: installing the project prints no build warnings that would bury real errors."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def test_building_the_metadata_prints_no_warnings():
    # What scripts/install runs (pip install -e .), with the virtualenv's setuptools instead of an
    # isolated download, so it works offline; the next test ties the two together.
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--dry-run", "--no-build-isolation",
                          "-q", "-e", str(ROOT)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    lines = [line for line in (res.stdout + res.stderr).splitlines()
             if "warning" in line.lower() and "Location 'file:" not in line]  # this machine's pip config
    assert not lines, "\n".join(lines)


def test_the_build_backend_supports_spdx_licenses():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    assert isinstance(meta["project"]["license"], str)  # an SPDX expression, not a deprecated table
    (req,) = [Requirement(r) for r in meta["build-system"]["requires"] if r.startswith("setuptools")]
    assert not req.specifier.contains("76.9"), "SPDX license strings need setuptools>=77"
    assert req.specifier.contains(version("setuptools"))  # the test above used an allowed version


def test_the_pre_commit_hooks_run_the_check_and_block_a_broken_article(tiny_articles, monkeypatch):
    """The hook definitions an articles repository uses run our real commands: a broken
    article fails the commit hook; the articles as shipped in the fixture pass it."""
    import shlex

    import yaml
    from click.testing import CliRunner

    from helpcenter.cli import main

    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))}
    assert set(hooks) == {"helpcenter-check", "helpcenter-check-search"}
    monkeypatch.chdir(tiny_articles.parent)  # the articles repository's root: the hooks name no folder
    argv = shlex.split(hooks["helpcenter-check"]["entry"])
    assert argv[0] == "helpcenter" and hooks["helpcenter-check"]["files"] == "^articles/"
    ok = CliRunner().invoke(main, argv[1:])
    assert ok.exit_code == 0, ok.output
    (tiny_articles / "account" / "forgot-password.md").write_text("---\ntitle: [\n---\n正文\n", "utf-8")
    broken = CliRunner().invoke(main, argv[1:])
    assert broken.exit_code == 1 and "forgot-password.md:2" in broken.output
