"""Search attributes and memo through the Python SDK against a real `keel`: the operator
calls (add, list, remove), attributes set at start, upserted and removed by a workflow
(also the SDK's TemporalChangeVersion for a patch), memo updates, shown by Describe; bad
attributes refused with Temporal's messages. Exact event sequences are compared with
Temporal's in test_fixtures.py."""

import json
import uuid

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
    RemoveSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from scenarios import _upserts, scenario_worker
from search_attribute_workflows import INT, KEYWORD, register_search_attributes

V = IndexedValueType


async def test_operator_calls_add_list_and_remove_custom_attributes(keel):
    client = await Client.connect(keel.target)
    ops = client.operator_service
    await ops.add_search_attributes(
        AddSearchAttributesRequest(namespace="default", search_attributes={"OrderStatus": V.INDEXED_VALUE_TYPE_KEYWORD})
    )
    # Adding it again with its type is a no-op, as on Temporal.
    await ops.add_search_attributes(
        AddSearchAttributesRequest(namespace="default", search_attributes={"OrderStatus": V.INDEXED_VALUE_TYPE_KEYWORD})
    )
    listed = await ops.list_search_attributes(ListSearchAttributesRequest(namespace="default"))
    assert listed.custom_attributes["OrderStatus"] == V.INDEXED_VALUE_TYPE_KEYWORD
    assert listed.system_attributes["WorkflowId"] == V.INDEXED_VALUE_TYPE_KEYWORD
    assert listed.system_attributes["TemporalChangeVersion"] == V.INDEXED_VALUE_TYPE_KEYWORD_LIST
    with pytest.raises(RPCError) as reserved:
        await ops.add_search_attributes(
            AddSearchAttributesRequest(namespace="default", search_attributes={"WorkflowId": V.INDEXED_VALUE_TYPE_KEYWORD})
        )
    assert reserved.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert reserved.value.message == "Search attribute WorkflowId is reserved by system."
    await ops.remove_search_attributes(RemoveSearchAttributesRequest(namespace="default", search_attributes=["OrderStatus"]))
    listed = await ops.list_search_attributes(ListSearchAttributesRequest(namespace="default"))
    assert "OrderStatus" not in listed.custom_attributes


async def test_a_workflow_upserts_attributes_and_memo_and_describe_shows_them(keel):
    client = await Client.connect(keel.target)
    await register_search_attributes(client)
    queue = f"q-{uuid.uuid4()}"
    async with scenario_worker(client, queue):
        handle = await _upserts(client, queue, f"wf-{uuid.uuid4()}")
    assert await handle.result() == "patched=True"
    info = (await handle.describe()).raw_description.workflow_execution_info
    memo = {k: json.loads(v.data) for k, v in info.memo.fields.items()}
    assert memo == {"note": "hello", "kept": 1}, "the upsert added one key and removed another"
    attributes = {k: json.loads(v.data) for k, v in info.search_attributes.indexed_fields.items()}
    # Temporal's BuildIds: an unversioned worker of the SDK's build id completed its tasks.
    build_ids = attributes.pop("BuildIds")
    assert build_ids[0] == "unversioned" and build_ids[1].startswith("unversioned:") and len(build_ids) == 2
    assert attributes == {KEYWORD.name: "upserted", "TemporalChangeVersion": ["my-patch"]}, (
        "the int attribute was removed by the second upsert"
    )


@pytest.mark.parametrize(
    "pair, message",
    [
        (
            SearchAttributePair(SearchAttributeKey.for_keyword("NotRegisteredField"), "x"),
            "Namespace default has no mapping defined for search attribute NotRegisteredField",
        ),
        (
            SearchAttributePair(SearchAttributeKey.for_int(KEYWORD.name), 5),
            "invalid value for search attribute CustomKeywordField of type Keyword: 5",
        ),
        (
            SearchAttributePair(SearchAttributeKey.for_keyword("WorkflowId"), "mine"),
            "WorkflowId attribute can't be set in SearchAttributes",
        ),
        (
            SearchAttributePair(SearchAttributeKey.for_keyword(INT.name), "seven"),
            "invalid value for search attribute CustomIntField of type Int: seven",
        ),
    ],
)
async def test_bad_attributes_at_start_are_refused_with_temporals_message(keel, pair, message):
    client = await Client.connect(keel.target)
    await register_search_attributes(client)
    with pytest.raises(RPCError) as refused:
        await client.start_workflow(
            "AnyWorkflow", id=f"wf-{uuid.uuid4()}", task_queue="nobody", search_attributes=TypedSearchAttributes([pair])
        )
    assert refused.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert refused.value.message == message


async def test_datetime_attributes_in_the_forms_the_sdks_send_are_accepted_and_queried(keel):
    from temporalio.api.common.v1 import Payload, SearchAttributes, WorkflowType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import StartWorkflowExecutionRequest

    client = await Client.connect(keel.target)
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(namespace="default", search_attributes={"CustomDatetimeField": V.INDEXED_VALUE_TYPE_DATETIME})
    )
    tag = uuid.uuid4().hex

    async def start(form: bytes):
        await client.workflow_service.start_workflow_execution(
            StartWorkflowExecutionRequest(
                namespace="default", workflow_id=f"dt-{tag}-{uuid.uuid4()}", request_id=str(uuid.uuid4()),
                workflow_type=WorkflowType(name="AnyWorkflow"), task_queue=TaskQueue(name=f"nobody-{tag}"),
                search_attributes=SearchAttributes(indexed_fields={
                    "CustomDatetimeField": Payload(metadata={"encoding": b"json/plain"}, data=form),
                }),
            ),
            retry=False,
        )

    for form in [
        b'"2026-11-26T05:00:00+00:00"',  # Python's isoformat()
        b'"2026-11-26T06:00:00.123456+01:00"',  # with microseconds and an offset
        b'["2026-11-26T05:00:00.000Z"]',  # TypeScript's list of a Date
        b'"2026-11-26T05:00:00.123456789Z"',  # Go's RFC3339Nano
    ]:
        await start(form)
    # Python's untyped (deprecated) form: a list of datetimes.
    import warnings
    from datetime import datetime, timezone

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        await client.start_workflow(
            "AnyWorkflow", id=f"dt-{tag}-untyped", task_queue=f"nobody-{tag}",
            search_attributes={"CustomDatetimeField": [datetime(2026, 11, 26, 5, tzinfo=timezone.utc)]},
        )
    scope = f'TaskQueue = "nobody-{tag}"'
    assert (await client.count_workflows(f'{scope} AND CustomDatetimeField >= "2026-11-26T05:00:00Z"')).count == 5
    assert (await client.count_workflows(f'{scope} AND CustomDatetimeField > "2026-11-26T05:00:00.1Z"')).count == 2

    with pytest.raises(RPCError) as refused:
        await start(b'"2026-11-26T05:00:00"')  # no offset: Go's time parsing refuses it too
    assert refused.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert refused.value.message == (
        "invalid value for search attribute CustomDatetimeField of type Datetime: 2026-11-26T05:00:00"
    )

