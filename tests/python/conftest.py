"""Fixtures: a real `keel` process (the binary named by KEEL_BIN) on a free port."""

import os
import signal
import socket
import subprocess
import time

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Keel:
    def __init__(self, data_dir: str):
        self.data_dir = data_dir
        self.port = free_port()
        self.proc = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = os.environ["KEEL_BIN"]
        self.proc = subprocess.Popen(
            [binary, "server", "start-dev", "--listen", self.target, "--data-dir", self.data_dir],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "KEEL_LOG": os.environ.get("KEEL_LOG", "warn")},
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if "keel serving on" in line:
                return
            if not line and self.proc.poll() is not None:
                break
        raise RuntimeError("keel did not start")

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def restart_after_kill9(self) -> None:
        self.kill9()
        self.start()


@pytest.fixture
def keel(tmp_path):
    k = Keel(str(tmp_path / "data"))
    k.start()
    yield k
    k.kill9()
