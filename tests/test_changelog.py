"""The package version follows the register map's version policy (docs/development.md): its MAJOR.MINOR is
the register map version, and CHANGELOG.md has an entry for it."""

import re
import tomllib
from pathlib import Path

from eqprop.hw.formats import VERSION

ROOT = Path(__file__).resolve().parents[1]


def package_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_major_minor_is_the_register_map_version():
    major, minor, patch = package_version().split(".")
    assert (int(major), int(minor)) == (VERSION >> 16, VERSION & 0xFFFF), (
        f"pyproject.toml's version must start with the register map version "
        f"{VERSION >> 16}.{VERSION & 0xFFFF} (eqprop.hw.formats.VERSION), not {package_version()!r}")
    assert patch.isdigit()


def test_changelog_names_the_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", text, flags=re.M)
    unreleased = re.search(r"^## \[Unreleased\]\n\nWhat will be released as (\S+) ", text, flags=re.M)
    version = package_version()
    assert version in released or (unreleased and unreleased.group(1) == version), (
        f"CHANGELOG.md must have an entry for {version}: '## [{version}] - YYYY-MM-DD', or say under "
        f"'## [Unreleased]' that it will be released as {version}")
    assert released == sorted(released, key=lambda v: tuple(map(int, v.split("."))), reverse=True)
