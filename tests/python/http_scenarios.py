"""Temporal's HTTP API, call by call, shared by record_fixtures.py (recorded from the dev
server's --http-port into fixtures/http_api.json) and test_http_api.py (Keel's HTTP listener
must answer the same): namespaces and system info, a workflow started, signalled, listed,
counted (grouped too), described with and without payload shorthand, its history forwards and
backwards, terminated; a schedule created, described, paused and deleted; search attributes;
and the refusals: a duplicate start, a run that does not exist, a bad query, an unknown
route, a wrong method, malformed JSON, an unknown field, a bad query-string number, and a
body over the 4 MB cap. Each answer is {"status": HTTP status, "body": masked JSON}.

No worker runs: every workflow stays at its first workflow task, so the answers are the
same on any server."""

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from responses import mask

# Times of this run only, besides those responses.mask hides.
TIMES = {"originalScheduledTime", "runExpirationTime"}


def mask_times(value):
    if isinstance(value, dict):
        return {k: "<masked>" if k in TIMES else mask_times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_times(v) for v in value]
    return value


def call(base: str, method: str, path: str, body=None, raw: bytes = None):
    """One HTTP request; returns (status, parsed JSON body or the raw text)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, text = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text.decode(errors="replace")


def q(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def run_http_scenarios(base: str, namespace: str = "default") -> dict:
    out = {}
    ns = f"/api/v1/namespaces/{namespace}"
    tag = uuid.uuid4().hex[:12]
    wf = f"http-{tag}"
    queue = f"http-queue-{tag}"

    def record(name, method, path, body=None, raw=None, until=None):
        deadline = time.time() + 20
        while True:
            status, got = call(base, method, path, body, raw)
            # Lists on the dev server lag (its visibility store is eventually consistent).
            if until is None or until(status, got) or time.time() > deadline:
                break
            time.sleep(0.2)
        # The run's own tag appears in ids and error texts: masked everywhere.
        masked = json.loads(json.dumps(mask_times(mask(got))).replace(tag, "<tag>"))
        out[name] = {"status": status, "body": masked}
        return status, got

    record("DescribeNamespace", "GET", f"{ns}")
    record("GetSystemInfo", "GET", "/api/v1/system-info")
    start = {
        "workflowType": {"name": "HttpWorkflow"},
        "taskQueue": {"name": queue},
        "input": ["hello", {"n": 1, "list": [1, 2]}],
        "memo": {"fields": {"owner": "team-a"}},
        "requestId": str(uuid.uuid4()),
        "workflowRunTimeout": "3600s",
    }
    _, started = record("StartWorkflowExecution", "POST", f"{ns}/workflows/{q(wf)}", start)
    run_id = started["runId"]
    record(
        "StartWorkflowExecution (id taken)",
        "POST",
        f"{ns}/workflows/{q(wf)}",
        {**start, "requestId": str(uuid.uuid4())},
    )
    record(
        "SignalWorkflowExecution",
        "POST",
        f"{ns}/workflows/{q(wf)}/signal/go",
        {"input": [{"step": 2}], "requestId": str(uuid.uuid4())},
    )
    record("DescribeWorkflowExecution", "GET", f"{ns}/workflows/{q(wf)}?execution.runId={run_id}")
    record(
        "DescribeWorkflowExecution (noPayloadShorthand)",
        "GET",
        f"{ns}/workflows/{q(wf)}?noPayloadShorthand",
    )
    record("GetWorkflowExecutionHistory", "GET", f"{ns}/workflows/{q(wf)}/history")
    record(
        "GetWorkflowExecutionHistoryReverse",
        "GET",
        f"{ns}/workflows/{q(wf)}/history-reverse?maximumPageSize=2",
    )
    query = f'WorkflowId="{wf}"'
    record(
        "ListWorkflowExecutions",
        "GET",
        f"{ns}/workflows?query={q(query)}&pageSize=10",
        until=lambda s, b: s == 200 and len(b.get("executions", [])) == 1,
    )
    record(
        "CountWorkflowExecutions",
        "GET",
        f"{ns}/workflow-count?query={q(query)}",
        until=lambda s, b: s == 200 and b.get("count") == "1",
    )
    record(
        "CountWorkflowExecutions (GROUP BY)",
        "GET",
        f"{ns}/workflow-count?query={q(f'TaskQueue={chr(34)}{queue}{chr(34)} GROUP BY ExecutionStatus')}",
        until=lambda s, b: s == 200 and b.get("count") == "1",
    )
    record("ListWorkflowExecutions (bad query)", "GET", f"{ns}/workflows?query={q('Nope = 1')}")
    record(
        "DescribeTaskQueue",
        "GET",
        f"{ns}/task-queues/{q(queue)}?taskQueueType=TASK_QUEUE_TYPE_WORKFLOW",
    )
    record(
        "TerminateWorkflowExecution",
        "POST",
        f"{ns}/workflows/{q(wf)}/terminate",
        {"reason": "from the HTTP API"},
    )
    record(
        "DescribeWorkflowExecution (terminated)",
        "GET",
        f"{ns}/workflows/{q(wf)}",
    )
    record("ListSearchAttributes", "GET", f"{ns}/search-attributes")

    schedule = f"http-schedule-{tag}"
    record(
        "CreateSchedule",
        "POST",
        f"{ns}/schedules/{q(schedule)}",
        {
            "schedule": {
                "spec": {"interval": [{"interval": "3600s"}]},
                "action": {
                    "startWorkflow": {
                        "workflowId": f"{schedule}-run",
                        "workflowType": {"name": "HttpWorkflow"},
                        "taskQueue": {"name": queue},
                        "input": ["from a schedule"],
                    }
                },
                "state": {"notes": "created over HTTP"},
            },
            "requestId": str(uuid.uuid4()),
        },
    )
    record(
        "PatchSchedule (pause)",
        "POST",
        f"{ns}/schedules/{q(schedule)}/patch",
        {"patch": {"pause": "paused over HTTP"}, "requestId": str(uuid.uuid4())},
    )
    record("DescribeSchedule (paused)", "GET", f"{ns}/schedules/{q(schedule)}")
    record("DeleteSchedule", "DELETE", f"{ns}/schedules/{q(schedule)}")

    record("DescribeWorkflowExecution (no such workflow)", "GET", f"{ns}/workflows/nope-{tag}")
    record("unknown route", "GET", "/api/v1/no/such/route")
    record("wrong method", "PUT", "/api/v1/namespaces")
    record("malformed JSON", "POST", f"{ns}/workflows/{q(wf)}-2", raw=b"{bad")
    record("unknown field", "POST", f"{ns}/workflows/{q(wf)}-2", {"noSuchField": 1})
    record("bad page size", "GET", f"{ns}/workflows?pageSize=abc")
    record(
        "oversized body",
        "POST",
        f"{ns}/workflows/{q(wf)}-3",
        raw=b'{"a":"' + b"x" * (5 * 1024 * 1024) + b'"}',
    )
    return out
