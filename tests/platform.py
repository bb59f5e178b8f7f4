"""Run the real ``cpo`` command in a subprocess, as a user would."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def cpo_command() -> list[str]:
    found = shutil.which("cpo", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "cpo.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def peer_process(command: Sequence[str], log: Path, ready: Callable[[], object], name: str) -> Iterator[None]:
    """A test peer (a fake processor, another party's server) in its own process, its output in ``log``:
    up once ``ready()`` stops raising ``httpx.HTTPError``, stopped on the way out."""
    with log.open("w") as out:
        process = subprocess.Popen(list(command), stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                ready()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError(f"{name} did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.2)
        yield
    finally:
        process.terminate()
        process.wait(10)


def platform_env(data_dir: Path, port: int, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CPO_")}
    env.update({"CPO_DATA_DIR": str(data_dir), "CPO_PORT": str(port), "CPO_HOST": "127.0.0.1", "CPO_LOG_JSON": "true"})
    env["CPO_OCPI_ALLOW_PRIVATE_URLS"] = "true"  # the test partners serve plain http on loopback
    env.update(extra or {})
    return env


def run_cpo(
    args: Sequence[str], env: Mapping[str, str], stdin: str | None = None, limit: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cpo_command(), *args], env=dict(env), input=stdin, capture_output=True, text=True, timeout=limit, cwd=ROOT
    )


class Platform:
    """``cpo serve`` in the background; ``stop()`` sends SIGTERM like a process manager would."""

    def __init__(
        self, env: Mapping[str, str], log: Path, verify: ssl.SSLContext | bool = True, args: Sequence[str] = ()
    ) -> None:
        self.env = dict(env)
        scheme = "https" if env.get("CPO_TLS_CERT") else "http"
        self.url = f"{scheme}://127.0.0.1:{env['CPO_PORT']}"
        self.verify = verify
        self.log_path = log
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [*cpo_command(), "serve", *args],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,  # its own process group: kill() takes the workers down too
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"cpo serve exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2, verify=self.verify).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"cpo serve not ready after {timeout}s:\n{self.log_path.read_text()}")

    def kill(self) -> None:
        """Die without a word, workers and all, as a crashed machine would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)  # workers and children too
                self.process.wait(10)
        self._log.close()
        return self.process.returncode
