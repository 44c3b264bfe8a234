"""Nexus endpoints (OperatorService Create/Get/List/Update/DeleteNexusEndpoint) against a real
`keel`: the real `temporal operator nexus endpoint` CLI's round trip, Temporal's checks with
its codes and messages (recorded from the dev server with the same calls), paging, the HTTP
API's routes, and endpoints kept across a kill -9.

Deliberate differences from the dev server, each pinned by a test here: a rename onto a name
another endpoint has is refused (the dev server lets two endpoints share a name); an update
keeps the created time (the dev server's drops it); list page tokens are Keel's own (a forged
one is INVALID_ARGUMENT, the dev server's answer to one is INTERNAL)."""

import json
import subprocess
import urllib.request
import uuid

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.nexus.v1 import EndpointSpec, EndpointTarget
from temporalio.api.operatorservice.v1 import (
    CreateNexusEndpointRequest, DeleteNexusEndpointRequest, GetNexusEndpointRequest,
    ListNexusEndpointsRequest, UpdateNexusEndpointRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from conftest import Keel
from ports import reserve_port
from test_cli import temporal_cli

NAME_PATTERN = 'endpoint name must match the regex: "^[a-zA-Z][a-zA-Z0-9\\\\-]*[a-zA-Z0-9]$"'


def worker(name: str, namespace: str = "default", queue: str = "q") -> EndpointSpec:
    return EndpointSpec(name=name, target=EndpointTarget(
        worker=EndpointTarget.Worker(namespace=namespace, task_queue=queue)))


def external(name: str, url: str) -> EndpointSpec:
    return EndpointSpec(name=name, target=EndpointTarget(external=EndpointTarget.External(url=url)))


def cli(keel: Keel, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([temporal_cli(), "operator", "nexus", "endpoint", *args, "--address", keel.target],
                          capture_output=True, text=True, timeout=30)


async def refused(call, request) -> tuple:
    with pytest.raises(RPCError) as err:
        await call(request)
    return err.value.status, err.value.message


def test_the_cli_creates_gets_lists_updates_and_deletes_an_endpoint(keel: Keel):
    made = cli(keel, "create", "--name", "orders", "--target-namespace", "default",
               "--target-task-queue", "orders-q", "--description", "Takes *orders*")
    assert made.returncode == 0, made.stderr
    assert "Endpoint orders successfully created." in made.stdout

    again = cli(keel, "create", "--name", "orders", "--target-namespace", "default", "--target-task-queue", "q")
    assert again.returncode != 0
    assert "error creating Nexus endpoint. Endpoint with name orders already registered" in again.stderr

    got = cli(keel, "get", "--name", "orders", "-o", "json")
    assert got.returncode == 0, got.stderr
    endpoint = json.loads(got.stdout)
    assert endpoint["version"] == "1"
    assert endpoint["spec"] == {"name": "orders", "description": "Takes *orders*",
                                "target": {"worker": {"namespace": "default", "taskQueue": "orders-q"}}}
    assert endpoint["urlPrefix"] == f"/nexus/endpoints/{endpoint['id']}/services"
    assert "createdTime" in endpoint and "lastModifiedTime" not in endpoint
    uuid.UUID(endpoint["id"])

    updated = cli(keel, "update", "--name", "orders", "--target-task-queue", "orders-q2")
    assert updated.returncode == 0, updated.stderr
    assert "Endpoint orders successfully updated." in updated.stdout

    listed = cli(keel, "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    [now] = json.loads(listed.stdout)
    assert now["id"] == endpoint["id"] and now["version"] == "2"
    assert now["spec"]["target"]["worker"]["taskQueue"] == "orders-q2"
    assert now["spec"]["description"] == "Takes *orders*", "the CLI's update keeps the description"
    assert "lastModifiedTime" in now
    assert now["createdTime"] == endpoint["createdTime"], "Keel keeps the created time (the dev server drops it)"

    deleted = cli(keel, "delete", "--name", "orders")
    assert deleted.returncode == 0, deleted.stderr
    assert f"Endpoint orders successfully deleted (ID {endpoint['id']})." in deleted.stdout
    gone = cli(keel, "get", "--name", "orders")
    assert gone.returncode != 0
    assert 'endpoint not found: "orders"' in gone.stderr


async def test_bad_specs_get_temporals_codes_and_messages(keel: Keel):
    op = (await Client.connect(keel.target)).operator_service
    create = op.create_nexus_endpoint
    INVALID, PRECONDITION = RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.FAILED_PRECONDITION
    cases = [
        (worker("a_b"), INVALID, NAME_PATTERN),
        (worker("-", queue=""), INVALID, NAME_PATTERN + ', invalid target task queue: "taskQueue is not set"'),
        (worker(""), INVALID, "endpoint name not set"),
        (worker("a" * 201), INVALID, "endpoint name exceeds length limit of 200"),
        (worker("x1", namespace="nope"), PRECONDITION,
         "could not verify namespace referenced by target exists: Namespace nope is not found."),
        # The namespace is looked up first, and answers alone.
        (worker("x", namespace="nope"), PRECONDITION,
         "could not verify namespace referenced by target exists: Namespace nope is not found."),
        (worker("x1", namespace=""), INVALID, "target namespace not set"),
        (worker("x1", queue="/_sys/x"), INVALID,
         'invalid target task queue: "task queue name cannot start with reserved prefix /_sys/"'),
        (EndpointSpec(name="x1"), INVALID, "empty target variant"),
        (None, INVALID, "endpoint name not set, empty target variant"),
        (external("x1", "ftp://h"), INVALID, 'invalid target URL scheme: "ftp", expected http or https'),
        (external("x1", "localhost:80"), INVALID, 'invalid target URL scheme: "localhost", expected http or https'),
        (external("x1", ""), INVALID, "empty target URL"),
        (external("x1", ":x"), INVALID, 'invalid target URL: parse ":x": missing protocol scheme'),
        (EndpointSpec(name="x1", description=Payload(data=b"x" * 20001), target=worker("x1").target),
         INVALID, "description size exceeds limit of 20000"),
    ]
    for spec, code, message in cases:
        assert await refused(create, CreateNexusEndpointRequest(spec=spec)) == (code, message), spec
    listed = await op.list_nexus_endpoints(ListNexusEndpointsRequest())
    assert list(listed.endpoints) == [], "nothing refused was kept"

    ext = (await create(CreateNexusEndpointRequest(spec=external("ext-1", "http://localhost:1/x")))).endpoint
    assert ext.version == 1 and ext.spec.target.external.url == "http://localhost:1/x"


async def test_ids_versions_and_missing_endpoints_as_temporal_answers(keel: Keel):
    op = (await Client.connect(keel.target)).operator_service
    INVALID, NOT_FOUND = RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.NOT_FOUND
    missing = str(uuid.uuid4())
    get = op.get_nexus_endpoint
    assert await refused(get, GetNexusEndpointRequest(id="")) == (INVALID, "endpoint ID not set")
    assert await refused(get, GetNexusEndpointRequest(id="abc")) == (
        INVALID, 'malformed endpoint ID: "invalid UUID length: 3"')
    assert await refused(get, GetNexusEndpointRequest(id="6d4c9d3e-2e0c-4e39-9f4f-2c1d1c7a9bzz")) == (
        INVALID, 'malformed endpoint ID: "invalid UUID format"')
    assert await refused(get, GetNexusEndpointRequest(id=missing)) == (
        NOT_FOUND, f"Nexus endpoint with ID `{missing}` not found")

    made = (await op.create_nexus_endpoint(CreateNexusEndpointRequest(spec=worker("ep-a")))).endpoint
    assert (await get(GetNexusEndpointRequest(id=made.id))).endpoint == made

    update = op.update_nexus_endpoint
    assert await refused(update, UpdateNexusEndpointRequest(id=made.id, version=5, spec=worker("ep-a"))) == (
        RPCStatusCode.FAILED_PRECONDITION, "nexus endpoint version mismatch. received: 5 expected 1")
    assert await refused(update, UpdateNexusEndpointRequest(id=missing, version=1, spec=worker("ep-a"))) == (
        NOT_FOUND, f"error updating Nexus endpoint. endpoint ID {missing} not found")
    assert await refused(update, UpdateNexusEndpointRequest(id="", version=1, spec=worker("ep-a"))) == (
        NOT_FOUND, "error updating Nexus endpoint. endpoint ID  not found")
    assert await refused(update, UpdateNexusEndpointRequest(id=made.id, version=1, spec=worker("a_"))) == (
        INVALID, NAME_PATTERN)

    renamed = (await update(UpdateNexusEndpointRequest(id=made.id, version=1, spec=worker("ep-b", queue="q2")))).endpoint
    assert (renamed.id, renamed.version, renamed.spec.name) == (made.id, 2, "ep-b")
    assert renamed.created_time == made.created_time
    assert renamed.last_modified_time.ToNanoseconds() % 1_000_000 == 0, "milliseconds, as Temporal's clock"
    by_old_name = await op.list_nexus_endpoints(ListNexusEndpointsRequest(name="ep-a"))
    assert list(by_old_name.endpoints) == [], "a rename frees the old name"
    [by_name] = (await op.list_nexus_endpoints(ListNexusEndpointsRequest(name="ep-b"))).endpoints
    assert by_name == renamed

    other = (await op.create_nexus_endpoint(CreateNexusEndpointRequest(spec=worker("ep-c")))).endpoint
    # Keel keeps names unique; the dev server would let ep-c take ep-b's name here.
    assert await refused(update, UpdateNexusEndpointRequest(id=other.id, version=1, spec=worker("ep-b"))) == (
        RPCStatusCode.ALREADY_EXISTS, "error updating Nexus endpoint. Endpoint with name ep-b already registered")

    delete = op.delete_nexus_endpoint
    assert await refused(delete, DeleteNexusEndpointRequest(id=made.id)) == (
        INVALID, "endpoint version is non-positive")
    assert await refused(delete, DeleteNexusEndpointRequest(id="x", version=0)) == (
        INVALID, 'malformed endpoint ID: "invalid UUID length: 1", endpoint version is non-positive')
    assert await refused(delete, DeleteNexusEndpointRequest(id=missing, version=1)) == (
        NOT_FOUND, f"error deleting nexus endpoint with ID: {missing}")
    # As the dev server's, a delete does not check that its version is the current one.
    await delete(DeleteNexusEndpointRequest(id=made.id, version=7))
    assert await refused(get, GetNexusEndpointRequest(id=made.id)) == (
        NOT_FOUND, f"Nexus endpoint with ID `{made.id}` not found")
    [left] = (await op.list_nexus_endpoints(ListNexusEndpointsRequest())).endpoints
    assert left.id == other.id


async def test_lists_page_through_every_endpoint_once_in_id_order(keel: Keel):
    op = (await Client.connect(keel.target)).operator_service
    ids = sorted([(await op.create_nexus_endpoint(CreateNexusEndpointRequest(spec=worker(f"ep-{i}")))).endpoint.id
                  for i in range(5)])
    pages, token = [], b""
    while True:
        page = await op.list_nexus_endpoints(ListNexusEndpointsRequest(page_size=2, next_page_token=token))
        pages.append([e.id for e in page.endpoints])
        token = page.next_page_token
        if not token:
            break
    assert pages == [ids[0:2], ids[2:4], ids[4:5]]
    everything = await op.list_nexus_endpoints(ListNexusEndpointsRequest())
    assert [e.id for e in everything.endpoints] == ids and not everything.next_page_token

    lst = op.list_nexus_endpoints
    assert await refused(lst, ListNexusEndpointsRequest(page_size=-1)) == (
        RPCStatusCode.INVALID_ARGUMENT, "page_size is negative")
    assert await refused(lst, ListNexusEndpointsRequest(page_size=1001)) == (
        RPCStatusCode.INVALID_ARGUMENT, "page_size exceeds limit of 1000")
    assert await refused(lst, ListNexusEndpointsRequest(page_size=1, next_page_token=b"zzz")) == (
        RPCStatusCode.INVALID_ARGUMENT, "invalid page token")
    assert list((await lst(ListNexusEndpointsRequest(name="nope-nope"))).endpoints) == []


async def test_endpoints_survive_a_kill_9_and_the_http_api_serves_them(tmp_path):
    http_port = reserve_port()
    keel = Keel(str(tmp_path / "data"), extra_args=["--http-listen", f"127.0.0.1:{http_port}", "--headless"])
    keel.start()
    try:
        op = (await Client.connect(keel.target)).operator_service
        made = (await op.create_nexus_endpoint(CreateNexusEndpointRequest(spec=worker("durable-ep")))).endpoint
        keel.restart_after_kill9()
        op = (await Client.connect(keel.target)).operator_service
        assert (await op.get_nexus_endpoint(GetNexusEndpointRequest(id=made.id))).endpoint == made

        base = f"http://127.0.0.1:{http_port}/api/v1/nexus/endpoints"
        with urllib.request.urlopen(f"{base}/{made.id}", timeout=10) as got:
            body = json.loads(got.read())
        assert body["endpoint"]["spec"]["name"] == "durable-ep"
        assert body["endpoint"]["version"] == "1"
        create = urllib.request.Request(
            base, method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"spec": {"name": "http-ep", "target": {
                "external": {"url": "https://example.invalid/nexus"}}}}).encode())
        with urllib.request.urlopen(create, timeout=10) as made_over_http:
            created = json.loads(made_over_http.read())["endpoint"]
        assert created["spec"]["target"]["external"]["url"] == "https://example.invalid/nexus"
        with urllib.request.urlopen(base, timeout=10) as listed:
            names = sorted(e["spec"]["name"] for e in json.loads(listed.read())["endpoints"])
        assert names == ["durable-ep", "http-ep"]
    finally:
        keel.kill9()
