"""Visibility scenarios shared by record_fixtures.py (recorded from Temporal's dev server into
fixtures/visibility.json) and test_visibility.py (Keel must answer the same): runs with
search attributes, some terminated, listed and counted by many queries; and the answers to
queries Temporal accepts or refuses (its exact error texts).

Temporal's visibility is eventually consistent, so the recorder waits until the dev server
lists every run it started; Keel's is exact, so the test asks at once."""

import asyncio
import json
import uuid

from temporalio.api.enums.v1 import IndexedValueType as T
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import CountWorkflowExecutionsRequest, ListWorkflowExecutionsRequest
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

CUSTOM = {
    "CustomKw": T.INDEXED_VALUE_TYPE_KEYWORD,
    "CustomKwList": T.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    "CustomText": T.INDEXED_VALUE_TYPE_TEXT,
    "CustomInt": T.INDEXED_VALUE_TYPE_INT,
    "CustomBool": T.INDEXED_VALUE_TYPE_BOOL,
    "CustomDouble": T.INDEXED_VALUE_TYPE_DOUBLE,
    "CustomDatetime": T.INDEXED_VALUE_TYPE_DATETIME,
}

KW = SearchAttributeKey.for_keyword("CustomKw")
KW_LIST = SearchAttributeKey.for_keyword_list("CustomKwList")
INT = SearchAttributeKey.for_int("CustomInt")
BOOL = SearchAttributeKey.for_bool("CustomBool")
TEXT = SearchAttributeKey.for_text("CustomText")

# (suffix, type, color, tags, size, flag, text, terminated)
RUNS = [
    ("a", "TypeA", "red", ["x", "y"], 1, True, "quick brown fox"),
    ("b", "TypeB", "blue", ["y"], 2, False, "lazy dog"),
    ("c", "TypeA", "red", ["z"], 3, False, "brown dog"),
    ("d", "TypeB", "green", [], 5, True, "fox"),
    ("e", "TypeA", "blue", ["x"], 8, False, "quick dog"),
    ("f", "TypeB", "red", ["x", "z"], 13, True, "the end"),
]
TERMINATED = {"b", "e"}

QUERIES = [
    "",
    "ExecutionStatus = 'Running'",
    "ExecutionStatus = 'Terminated'",
    "ExecutionStatus != 'Running'",
    "WorkflowType = 'TypeA'",
    "CustomKw = 'red'",
    "CustomKw != 'red'",
    "CustomKwList = 'x'",
    "CustomKwList IN ('y', 'z')",
    "CustomKwList IS NULL",
    "CustomInt > 2",
    "CustomInt BETWEEN 2 AND 8",
    "CustomInt IN (1, 13)",
    "CustomBool = true",
    "CustomText = 'dog'",
    "CustomText = 'quick fox'",
    "CloseTime IS NOT NULL",
    "CloseTime IS NULL AND CustomBool = false",
    "(CustomKw = 'red' OR CustomInt >= 5) AND WorkflowType = 'TypeB'",
    "NOT (WorkflowType = 'TypeA')",
    "NOT CustomKw = 'red'",
    "CustomKw IN ('red', 'blue') AND CustomKw NOT IN ('blue')",
    "WorkflowType STARTS_WITH 'TypeA'",
    "CustomKw >= 'green'",
    "StartTime > '2000-01-01T00:00:00Z'",
    "ExecutionStatus = 'Running' OR CustomKw = 'green'",
]

# Queries whose acceptance or exact error text is compared (not their results).
CHECKED_QUERIES = [
    "Foo = 'x'",
    "WorkflowType = foo",
    "WorkflowType",
    "WorkflowType LIKE 'x%'",
    "CustomKwList < 'a'",
    "CustomText < 'a'",
    "CustomBool < true",
    "CustomBool BETWEEN true AND false",
    "CustomKwList BETWEEN 'a' AND 'b'",
    "CustomText STARTS_WITH 'a'",
    "CustomKwList STARTS_WITH 'a'",
    "CustomInt STARTS_WITH 'a'",
    "StartTime > '2024-01-02'",
    "StartTime > 'x'",
    "StartTime > 1700000000000000000",
    "ExecutionStatus = 'Foo'",
    "ExecutionStatus = 'running'",
    "ExecutionStatus = 1",
    "ExecutionStatus = 'WORKFLOW_EXECUTION_STATUS_RUNNING'",
    "ExecutionDuration > '2h45m'",
    "ExecutionDuration > 'x'",
    "CustomInt = 'abc'",
    "CustomInt = 1.5",
    "CustomBool = 'true'",
    "CustomBool = 1",
    "CustomKw = 1",
    "CustomKw = true",
    "CustomDatetime = 5",
    "WorkflowId = 'a' GROUP BY WorkflowType",
    "GROUP BY ExecutionStatus, WorkflowType",
    "GROUP BY ExecutionStatus",
    "WorkflowId = 'a' ORDER BY StartTime",
    "a = 'x' LIMIT 5",
    "WorkflowId = 'a' AND",
    "(WorkflowId = 'a'",
    "WorkflowId = 'a')",
    "WorkflowId IN ()",
    "WorkflowType = 'a' OR",
    "ScheduleId = 'x'",
    "TemporalScheduledById = \"x\"",
    "ChangeVersion = 'x'",
    "WorkflowId = 'x' and workflowtype = 'y'",
    "`CustomKw` = 'x'",
    "WorkflowId <> 'x'",
    "lower(WorkflowId) = 'x'",
    "NamespaceId = 'x'",
    "Memo = 'x'",
]


async def register(client, namespace: str = "default") -> None:
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=CUSTOM)
        )
    except RPCError:
        pass  # registered by an earlier run


async def _ids(client, query: str, page_size: int, prefix: str) -> list:
    out, token = [], b""
    while True:
        r = await client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(namespace="default", query=query, page_size=page_size, next_page_token=token)
        )
        out.extend(e.execution.workflow_id[len(prefix):] for e in r.executions)
        token = r.next_page_token
        if not token:
            return out


async def run_visibility(client, queue: str = "visibility-no-worker") -> dict:
    """Starts RUNS (no worker: they stay running), terminates TERMINATED, and answers every
    query of QUERIES, restricted to this run's ids, by List (in pages of 2 and of 1000) and
    Count, plus a grouped count."""
    await register(client)
    prefix = f"vis-{uuid.uuid4().hex[:8]}-"
    for suffix, wf_type, color, tags, size, flag, text in RUNS:
        attrs = [
            SearchAttributePair(KW, color),
            SearchAttributePair(INT, size),
            SearchAttributePair(BOOL, flag),
            SearchAttributePair(TEXT, text),
        ]
        if tags:
            attrs.append(SearchAttributePair(KW_LIST, tags))
        await client.start_workflow(
            wf_type, id=prefix + suffix, task_queue=queue,
            search_attributes=TypedSearchAttributes(attrs),
        )
        await asyncio.sleep(0.05)  # distinct start times
    for suffix in sorted(TERMINATED):
        await client.get_workflow_handle(prefix + suffix).terminate("visibility scenario")
        await asyncio.sleep(0.05)
    scope = f"WorkflowId STARTS_WITH '{prefix}'"
    # Wait until every run shows its final status (Temporal's lists lag its writes).
    for _ in range(100):
        closed = await _ids(client, f"{scope} AND ExecutionStatus = 'Terminated'", 1000, prefix)
        everything = await _ids(client, scope, 1000, prefix)
        if len(closed) == len(TERMINATED) and len(everything) == len(RUNS):
            break
        await asyncio.sleep(0.2)
    out = {}
    for q in QUERIES:
        full = f"{scope} AND ({q})" if q else scope
        ids = await _ids(client, full, 1000, prefix)
        paged = await _ids(client, full, 2, prefix)
        count = (await client.workflow_service.count_workflow_executions(
            CountWorkflowExecutionsRequest(namespace="default", query=full)
        )).count
        out[q or "<all>"] = {"ids": ids, "pages_of_2": paged, "count": count}
    grouped = await client.workflow_service.count_workflow_executions(
        CountWorkflowExecutionsRequest(namespace="default", query=f"{scope} GROUP BY ExecutionStatus")
    )
    out["GROUP BY ExecutionStatus"] = {
        "count": grouped.count,
        "groups": sorted(
            [[json.loads(v.data), {k: v.metadata[k].decode() for k in v.metadata}], g.count]
            for g in grouped.groups for v in g.group_values
        ),
    }
    return out


async def run_checked_queries(client) -> dict:
    """Each query of CHECKED_QUERIES: "ok", or the status code and message it was refused with."""
    await register(client)
    out = {}
    for q in CHECKED_QUERIES:
        for _ in range(20):
            try:
                await client.workflow_service.count_workflow_executions(
                    CountWorkflowExecutionsRequest(namespace="default", query=q)
                )
                out[q] = "ok"
            except RPCError as e:
                if e.status == RPCStatusCode.RESOURCE_EXHAUSTED:
                    await asyncio.sleep(1)  # the dev server's namespace rate limit
                    continue
                out[q] = f"{e.status.name}: {e.message}"
            break
    return out
