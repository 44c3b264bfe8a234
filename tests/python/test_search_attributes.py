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
