"""The documentation site builds with ``mkdocs build --strict``: a broken link or anchor, a page left out of
the nav, an unreadable docstring or a snippet that cannot be found is an error (mkdocs.yml's validation).
Amaranth and hls4ml build their docs in CI the same way."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_site_builds_strict(tmp_path):
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI: mkdocs is missing; `make venv` installs it (the docs extra)")
        pytest.skip("mkdocs is missing; `make venv` installs it (the docs extra)")
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)], cwd=ROOT,
                       capture_output=True, text=True, timeout=600,
                       env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert r.returncode == 0, r.stderr[-4000:]
    assert "WARNING" not in r.stderr, r.stderr[-4000:]
    # the API reference holds the modules it names, read from their docstrings
    api = (site / "api" / "rtl" / "index.html").read_text()
    assert 'id="rtl.core.Core"' in api and 'id="rtl.axil.AxiLiteAccelerator"' in api
    assert 'id="eqprop.device.accelerator.Accelerator"' in (site / "api" / "device" / "index.html").read_text()
    assert 'id="eqprop.hw.hwconfig.HwConfig"' in (site / "api" / "hw" / "index.html").read_text()
    # the changelog page includes CHANGELOG.md
    assert "Register map 3.3" in (site / "changelog" / "index.html").read_text()

