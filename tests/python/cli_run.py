"""Runs the qkv CLI (QKV_CLI) as a child process and reports what it cost: exit status, output,
peak memory (ru_maxrss of that child alone, via wait4) and wall time."""
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CLI = os.environ.get("QKV_CLI")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TINY = FIXTURES / "fashion-mnist-tiny"


@dataclass
class Run:
    status: int        # exit code, or -signal
    output: str        # stdout and stderr
    max_rss_mb: float
    seconds: float


def run_cli(args, env=None, timeout=60, preexec_fn=None):
    """args: list of strings after the executable. env: extra environment variables."""
    full_env = dict(os.environ)
    full_env.setdefault("QKV_NUM_THREADS", "2")
    full_env.update(env or {})
    with tempfile.TemporaryFile() as out:
        start = time.monotonic()
        p = subprocess.Popen([CLI] + [str(a) for a in args], stdout=out, stderr=subprocess.STDOUT, env=full_env,
                             preexec_fn=preexec_fn)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                p.kill()
                pid, status, usage = os.wait4(p.pid, 0)
                break
            time.sleep(0.01)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    return Run(p.returncode, text, usage.ru_maxrss / 1024.0, time.monotonic() - start)
