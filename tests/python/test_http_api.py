"""Keel's HTTP API (`--http-listen`) answers as the dev server's `--http-port` does: the calls
of http_scenarios.py against a real Keel, compared field by field with fixtures/http_api.json
(recorded from Temporal's dev server), status codes included."""

import json
import urllib.error
import uuid
from datetime import datetime

import pytest

from conftest import Keel
from http_scenarios import call, run_http_scenarios
from ports import reserve_port
from record_fixtures import FIXTURES, HTTP_API
from responses import response_differences

# Where Keel's answer differs from the dev server's on purpose or for now, and why.
KNOWN = {
    "malformed JSON .body.message": "the JSON parser's own wording (Go's encoding/json there, serde_json here)",
    "unknown field .body.message": "the position Go's parser adds (line 1:2)",
    "GetSystemInfo .body.capabilities.": "capabilities: compared by test_responses.test_capabilities_match_temporal",
    "SignalWorkflowExecution .body.link": "links to the signalled event: not yet (Nexus, issue 22)",
    "DescribeNamespace .body.config.customSearchAttributeAliases": "the dev server's pre-registered custom attributes",
    "ListSearchAttributes .body.customAttributes": "the dev server's pre-registered custom attributes",
    "DescribeNamespace .body.namespaceInfo.limits.memoSizeLimitError": "memo size: not enforced by Keel, so not claimed",
    "DescribeNamespace .body.namespaceInfo.limits.workflowTaskCompletionSizeLimitError":
        "task completion size: not enforced by Keel, so not claimed",
    "DescribeNamespace .body.namespaceInfo.capabilities.eagerWorkflowStart": "eager workflow start: not yet (issue 21)",
    "DescribeNamespace .body.namespaceInfo.capabilities.pollerAutoscaling": "poller autoscaling hints: not given",
    "DescribeNamespace .body.namespaceInfo.capabilities.reportedProblemsSearchAttribute":
        "TemporalReportedProblems: not maintained",
    "DescribeNamespace .body.namespaceInfo.capabilities.standaloneActivityBatchOperations":
        "batch operations on standalone activities: not yet",
    "DescribeNamespace .body.namespaceInfo.capabilities.standaloneActivityOperatorCommands":
        "pause, reset and new options on standalone activities: not yet",
    "DescribeNamespace .body.namespaceInfo.capabilities.workerHeartbeats": "worker heartbeats: not recorded",
    "DescribeTaskQueue .body.effectiveRateLimit": "task queue rate limits: none in Keel",
    "DescribeTaskQueue .body.versioningInfo": "worker versioning: not yet (issue 21)",
    "DescribeSchedule (paused) .body.info.stateSizeBytes": "Keel reports the schedule record's size; this dev server leaves it out",
    "DescribeWorkflowExecution (terminated) .body.pendingWorkflowTask":
        "the dev server still reports the scheduled workflow task of a terminated run; Keel does not",
    "ListWorkflowExecutions .body.executions[0].firstRunId": "Keel fills firstRunId in lists; the dev server leaves it empty",
    "GetWorkflowExecutionHistoryReverse .body": "Temporal pages by stored event batches (a page of 2 gave 3 events); Keel by events",
}


@pytest.fixture(scope="module")
def expected():
    return json.loads((FIXTURES / HTTP_API).read_text())


@pytest.fixture
def keel_http(tmp_path):
    http_port = reserve_port()
    k = Keel(str(tmp_path / "data"), extra_args=["--http-listen", f"127.0.0.1:{http_port}", "--headless"])
    k.http_base = f"http://127.0.0.1:{http_port}"
    k.start()
    yield k
    k.kill9()


def future_times_as_shape(value):
    """A schedule's futureActionTimes depend on when the scenario ran: compared by their number,
    the gaps between them and whether each lies on the interval's grid (an hourly schedule's
    times fall on the hour)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "futureActionTimes" and isinstance(v, list):
                secs = [datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() for t in v]
                out[k] = {
                    "count": len(secs),
                    "gaps": [b - a for a, b in zip(secs, secs[1:])],
                    "on_the_hour": all(s % 3600 == 0 for s in secs),
                }
            else:
                out[k] = future_times_as_shape(v)
        return out
    if isinstance(value, list):
        return [future_times_as_shape(v) for v in value]
    return value


def test_http_api_matches_temporal_dev_server(keel_http, expected):
    got = future_times_as_shape(run_http_scenarios(keel_http.http_base))
    diff = response_differences(got, future_times_as_shape(expected), KNOWN)
    assert not diff, "Keel's HTTP answers differ from Temporal's:\n  " + "\n  ".join(diff)


def test_hostile_requests_get_json_errors_and_break_nothing(keel_http):
    """Seeded junk: odd paths, methods, bodies and query strings. Every answer is JSON, every
    refusal Temporal's JSON status with a client-error code (or 501 for a method the route
    lacks), never a server error, and the node serves normally afterwards."""
    import random

    rng = random.Random(5)
    segments = ["api", "v1", "namespaces", "default", "nope", "workflows", "w%2Fx", "%zz", "history",
                "signal", "terminate", "schedules", "batch-operations", "task-queues", "..", "%00", "%E2%82%AC", "%C3%28"]
    bodies = [b"", b"{", b"[]", b"null", b'{"input": {"payloads": [{"metadata": 5}]}}', b'{"workflowId": 7}',
              b'{"memo": {"fields": {"a": {"metadata": {"encoding": "!!"}, "data": "**"}}}}',
              b'{"workflowExecutionTimeout": "-1s"}', b'{"requestId": "' + b"x" * 5000 + b'"}', bytes(range(256))]
    seen = set()
    templates = ["/api/v1/namespaces/{}/workflows/{}", "/api/v1/namespaces/{}/workflows/{}/signal/{}",
                 "/api/v1/namespaces/{}/workflows/{}/terminate", "/api/v1/namespaces/{}/workflows",
                 "/api/v1/namespaces/{}/workflows/{}/history", "/api/v1/namespaces/{}/schedules/{}",
                 "/api/v1/namespaces/{}/workflow-count", "/api/v1/namespaces/{}/batch-operations/{}",
                 "/api/v1/namespaces/{}/task-queues/{}", "/api/v1/namespaces/{}"]
    for _ in range(400):
        if rng.random() < 0.7:
            template = rng.choice(templates)
            path = template.format(*(rng.choice(segments) for _ in range(template.count("{}"))))
        else:
            path = "/" + "/".join(rng.choice(segments) for _ in range(rng.randint(1, 7)))
        if rng.random() < 0.5:
            path += "?" + rng.choice(["pageSize=-5", "pageSize=1e9", "query=%28", "nextPageToken=%%%", "pretty", "x=y&&"])
        method = rng.choice(["GET", "POST", "DELETE", "PUT", "PATCH"])
        status, body = call(keel_http.http_base, method, path, raw=rng.choice(bodies) if method != "GET" else None)
        seen.add(status)
        assert status < 500 or status in (501, 503), (method, path, status, body)
        assert isinstance(body, dict), (method, path, body)
        if status >= 300:
            assert isinstance(body.get("code"), int) and "message" in body, (method, path, body)
    assert 404 in seen and 400 in seen
    status, body = call(keel_http.http_base, "GET", "/api/v1/namespaces/default")
    assert status == 200 and body["namespaceInfo"]["name"] == "default"


def test_a_page_elsewhere_cannot_write_through_a_browser(keel_http):
    """A cross-site POST (a browser names its page's Origin) is refused with nothing written;
    a client without an Origin, or the listener's own pages, may write."""
    import urllib.request

    wf = f"cross-origin-{uuid.uuid4()}"
    body = json.dumps({"workflowType": {"name": "X"}, "taskQueue": {"name": "q"}}).encode()
    url = f"{keel_http.http_base}/api/v1/namespaces/default/workflows/{wf}"

    def post(origin):
        req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "text/plain"})
        if origin:
            req.add_header("Origin", origin)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    status, answer = post("https://evil.example")
    assert (status, answer["message"]) == (403, "cross-origin request refused"), answer
    status, _ = call(keel_http.http_base, "GET", f"/api/v1/namespaces/default/workflows/{wf}")
    assert status == 404, "nothing was started"
    status, answer = post(keel_http.http_base)
    assert status == 200 and answer["runId"], answer
