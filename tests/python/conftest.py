"""Fixtures: a real `keel` process (the binary named by KEEL_BIN) on a reserved port (see ports.py)."""

import os
import signal
import queue
import subprocess
import threading
import time

import pytest

from ports import reserve_port


def wait_serving(proc: subprocess.Popen, what: str) -> None:
    """Returns once a starting keel prints its "serving" line; fails at once if it exits first
    (its stderr, inherited, says why) and after 60 s if it neither serves nor exits."""
    lines = queue.Queue()

    def read():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)  # end of stdout: the process exited

    threading.Thread(target=read, daemon=True).start()
    deadline = time.time() + 60
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.time()))
        except queue.Empty:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"{what} neither served nor exited within 60 s")
        if line is None:
            raise RuntimeError(f"{what} exited (status {proc.wait()}) before serving; its stderr is above")
        if "keel serving on" in line:
            return


class Keel:
    def __init__(self, data_dir: str, binary: str = "", extra_args=()):
        self.data_dir = data_dir
        self.binary = binary or os.environ["KEEL_BIN"]
        self.port = reserve_port()
        self.extra_args = list(extra_args)
        self.proc = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "server", "start-dev", "--listen", self.target, "--data-dir", self.data_dir,
             *self.extra_args],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "KEEL_LOG": os.environ.get("KEEL_LOG", "warn")},
        )
        wait_serving(self.proc, "keel")

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


class ClusterNode:
    """One `keel server start` process of a test cluster."""

    def __init__(self, node_id: int, data_dir: str, initial_cluster: str, peer_port: int, extra_args=(),
                 log_path: str = ""):
        self.node_id = node_id
        # Where its stderr goes, at info level (inherited, errors only, without one).
        self.log_path = log_path
        # The keel binary it runs (KEEL_BIN if empty).
        self.binary = ""
        self.data_dir = data_dir
        self.port = reserve_port()
        self.peer_port = peer_port
        self.initial_cluster = initial_cluster
        self.extra_args = list(extra_args)
        self.proc = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = self.binary or os.environ["KEEL_BIN"]
        log_filter = os.environ.get("KEEL_LOG", "error,openraft=off")
        stderr = None
        if self.log_path:
            log_filter, stderr = "info,openraft=warn", open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [
                binary, "server", "start",
                "--node-id", str(self.node_id),
                "--listen", self.target,
                "--peer-listen", f"127.0.0.1:{self.peer_port}",
                "--data-dir", self.data_dir,
                "--initial-cluster", self.initial_cluster,
                *self.extra_args,
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "KEEL_LOG": log_filter},
        )
        wait_serving(self.proc, f"keel node {self.node_id}")

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


class Cluster:
    def __init__(self, nodes, cli_args=()):
        self.nodes = nodes
        # Flags `keel cluster` needs here (credentials, TLS).
        self.cli_args = list(cli_args)

    def status(self, address: str = "") -> dict:
        """Node id -> the columns of its `keel cluster status` row (the CLI users run), asked
        of `address` or the first live node; only nodes that answered."""
        if not address:
            address = next(n for n in self.nodes if n.proc and n.proc.poll() is None).target
        out = subprocess.run(
            [os.environ["KEEL_BIN"], "cluster", "status", "--address", address, *self.cli_args],
            capture_output=True, text=True, timeout=30,
        ).stdout
        rows = {}
        for line in out.splitlines()[1:]:
            cols = line.split()
            if cols and cols[0].isdigit() and cols[-1] == "yes":
                rows[int(cols[0])] = cols
        return rows

    def roles(self) -> dict:
        """Node id -> role."""
        return {i: cols[3] for i, cols in self.status().items()}

    def wait_leader(self, timeout: float = 20.0) -> int:
        deadline = time.time() + timeout
        while time.time() < deadline:
            leaders = [i for i, r in self.roles().items() if r == "leader"]
            if len(leaders) == 1:
                return leaders[0]
            time.sleep(0.2)
        raise RuntimeError("no leader")

    def node(self, node_id: int) -> ClusterNode:
        return next(n for n in self.nodes if n.node_id == node_id)


def start_cluster(tmp_path, extra_args=lambda node_id: (), cli_args=(), logs=False) -> Cluster:
    """Three `keel server start` nodes; `extra_args(node_id)` adds flags to each; with `logs`,
    each node's info log goes to node<id>.log in tmp_path."""
    peers = {i: reserve_port() for i in (1, 2, 3)}
    initial = ",".join(f"{i}=127.0.0.1:{p}" for i, p in peers.items())
    nodes = [ClusterNode(i, str(tmp_path / f"node{i}"), initial, peers[i], extra_args(i),
                         str(tmp_path / f"node{i}.log") if logs else "") for i in (1, 2, 3)]
    for n in nodes:
        n.start()
    return Cluster(nodes, cli_args)


@pytest.fixture
def cluster(tmp_path):
    c = start_cluster(tmp_path)
    yield c
    for n in c.nodes:
        n.kill9()


@pytest.fixture(params=["plain", "peer-mtls"])
def cluster_both_ways(request, tmp_path):
    """A 3-node cluster, plain and with mutual TLS between the nodes (certificates made here)."""
    extra = lambda node_id: ()  # noqa: E731
    if request.param == "peer-mtls":
        from pki import CA  # only here: workflow sandboxes re-import this module

        ca = CA(tmp_path, "cluster-ca")
        certs = {i: ca.issue(f"node{i}", f"node-{i}") for i in (1, 2, 3)}
        extra = lambda i: ["--peer-tls-cert-file", str(certs[i][0]), "--peer-tls-key-file",  # noqa: E731
                           str(certs[i][1]), "--peer-tls-ca-file", str(ca.path)]
    c = start_cluster(tmp_path, extra)
    yield c
    for n in c.nodes:
        n.kill9()
