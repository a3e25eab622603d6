"""The contributor's files say what the repository does: pre-commit runs `make lint`'s commands, the make
targets CONTRIBUTING.md names exist, LICENSE is the licence pyproject declares, and the decisions CHANGELOG
names exist."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def make_recipe(target: str) -> list[str]:
    """The commands of a Makefile target, with $(BIN) spelt out as the Makefile defines it."""
    text = (ROOT / "Makefile").read_text()
    body = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", text, re.M)
    assert body, f"no target {target} in the Makefile"
    return [line.strip().replace("$(BIN)", ".venv/bin") for line in body.group(1).splitlines()]


def test_pre_commit_runs_the_commands_of_make_lint() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    (repo,) = config["repos"]
    assert repo["repo"] == "local"  # nothing to download
    hooks = repo["hooks"]
    assert all(h["language"] == "system" and h["pass_filenames"] is False for h in hooks)
    assert [shlex.split(h["entry"]) for h in hooks] == [shlex.split(c) for c in make_recipe("lint")]


def test_the_make_targets_contributing_names_exist() -> None:
    named = set(re.findall(r"\bmake ([a-z][\w-]*)", (ROOT / "CONTRIBUTING.md").read_text()))
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))
    assert {"demo", "test", "lint", "bench", "wheel-check"} <= named
    assert named <= targets, named - targets
    assert "make wheel-check" in (ROOT / ".ci" / "run").read_text()


def test_license_is_the_apache_2_text_pyproject_declares() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    # The nine sections of the terms, then the appendix: the full text, not a notice.
    for n, title in enumerate(
        [
            "Definitions",
            "Grant of Copyright License",
            "Grant of Patent License",
            "Redistribution",
            "Submission of Contributions",
            "Trademarks",
            "Disclaimer of Warranty",
            "Limitation of Liability",
            "Accepting Warranty or Additional Liability",
        ],
        start=1,
    ):
        assert f"{n}. {title}." in text, title
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_decisions_the_changelog_names_exist() -> None:
    named = {int(n) for n in re.findall(r"[Dd]ecisions? (\d{4})", (ROOT / "CHANGELOG.md").read_text())}
    named |= {int(n) for n in re.findall(r"\b(\d{4})\b(?=[,;)])", (ROOT / "CHANGELOG.md").read_text())}
    written = {int(p.name[:4]) for p in (ROOT / "docs" / "decisions").glob("[0-9]*.md")}
    assert named and named <= written, named - written


def test_the_tests_mirror_src_and_contributing_maps_them() -> None:
    packages = {p.name for p in (ROOT / "src" / "loopwise").iterdir() if (p / "__init__.py").exists()}
    folders = {p.name for p in (ROOT / "tests").iterdir() if p.is_dir() and p.name != "__pycache__"}
    # Every folder of tests/ is a package of src/loopwise/, or the shared fixtures, or bench/'s own tests.
    assert folders - {"_fixtures", "bench"} <= packages, folders - packages
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    tests_map = contributing[contributing.index("\ntests/\n") : contributing.index("Contract tests run over")]
    unmapped = sorted(name for name in folders if f" {name}/" not in tests_map)
    assert not unmapped, f"add {unmapped} to the map of tests/ in CONTRIBUTING.md"
    # One conftest: the fixtures are registered once, for every folder.
    assert [p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("conftest.py")] == [
        "tests/conftest.py"
    ]


def test_tests_wait_by_condition_not_by_fixed_sleeps() -> None:
    waits = ROOT / "tests" / "_fixtures" / "waits.py"
    sleeping = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in (ROOT / "tests").rglob("*.py")
        if p != waits
        for i, line in enumerate(p.read_text().splitlines(), start=1)
        if re.search(r"\bsleep\(", line)
    ]
    assert not sleeping, f"use tests._fixtures.wait_for(predicate, what) instead of a sleep: {sleeping}"
