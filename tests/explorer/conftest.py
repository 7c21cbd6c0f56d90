"""Fixtures of the explorer tests: the qkv CLI, a headless Chromium and a scratch folder.

Without Chromium every test is skipped with the message below (ctest reports them as skipped);
scripts/setup.sh installs it, so in CI they run.
"""
import os
import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import cdp  # noqa: E402

SKIP_MESSAGE = "chromium is not installed (apt-get install chromium): explorer pages not tested in a browser"


@pytest.fixture(scope="session")
def qkv_cli():
    path = os.environ.get("QKV_CLI")
    if not path or not os.access(path, os.X_OK):
        pytest.fail(f"QKV_CLI is '{path}'; expected the path of build/qkv (ctest sets it)")
    return path


def run_qkv(cli, *args, expect_ok=True):
    """Runs build/qkv; returns (exit status, stdout, stderr)."""
    p = subprocess.run([cli, *map(str, args)], capture_output=True, text=True, timeout=600,
                       env={**os.environ, "QKV_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"})
    if expect_ok:
        assert p.returncode == 0, f"qkv {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p.returncode, p.stdout, p.stderr


@pytest.fixture(scope="session")
def browser():
    executable = cdp.find_chromium()
    if executable is None:
        pytest.skip(SKIP_MESSAGE)
    b = cdp.Browser(executable)
    yield b
    b.close()


@pytest.fixture
def page(browser):
    """Opens a page and, after the test, fails on any console error it produced."""
    def open_page(path, width=1280, height=900):
        browser.open(path, width, height)
        assert browser.console_errors() == [], "console errors while loading"
        return browser
    yield open_page
    assert browser.console_errors() == [], "console errors during the test"
