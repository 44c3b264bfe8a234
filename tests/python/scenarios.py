"""The issue's scenarios as one runnable set, shared by the pytest suite and by
`record_fixtures.py`, which runs them against Temporal's own dev server to record the
expected histories. Histories are normalised: fields that differ between any two runs of the
same scenario (times, ids, identities, sizes) are dropped."""

from google.protobuf.json_format import MessageToDict

from test_sdk import ExplodeWorkflow, FailWorkflow, GreetWorkflow, SleepWorkflow

# (fixture name, workflow run method, argument, expect failure)
SCENARIOS = [
    ("activity", GreetWorkflow.run, "Keel", False),
    ("timer", SleepWorkflow.run, 2.0, False),
    ("failing_activity", ExplodeWorkflow.run, "boiler", True),
    ("failing_workflow", FailWorkflow.run, "on purpose", True),
]

# Differ between runs of the same scenario on the same server, or are server-internal.
VOLATILE = {
    "eventTime",  # wall clock
    "taskId",  # server-internal sequence
    "identity",  # worker process id and host
    "requestId",  # random per poll
    "originalExecutionRunId",  # random run id
    "firstExecutionRunId",  # random run id
    "workflowId",  # scenarios use random ids
    "historySizeBytes",  # depends on the lengths of the fields above
}


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in sorted(value.items()) if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _mask_build_ids(value):
    # A worker's build id is a hash of its code: present on both servers, equal only per build.
    if isinstance(value, dict):
        return {k: ("<build id>" if k == "buildId" else _mask_build_ids(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_build_ids(v) for v in value]
    return value


def _sort_sdk_flags(event: dict) -> dict:
    # The SDK lists its used flags from a hash set: order varies between worker processes.
    meta = event.get("workflowTaskCompletedEventAttributes", {}).get("sdkMetadata", {})
    for key in ("coreUsedFlags", "langUsedFlags"):
        if key in meta:
            meta[key] = sorted(meta[key])
    return event


def normalise(history) -> list:
    return [_sort_sdk_flags(_mask_build_ids(_strip(MessageToDict(e)))) for e in history.events]


def _flatten(value, path=""):
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flatten(item, f"{path}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in _flatten(item, f"{path}[{i}]").items()}
    return {path: value}


def differences(got: list, expected: list) -> list:
    """Readable differences between two normalised histories: 'event N path: got vs expected'."""
    out = []
    if len(got) != len(expected):
        out.append(f"{len(got)} events, expected {len(expected)}")
    for n, (a, b) in enumerate(zip(got, expected), start=1):
        fa, fb = _flatten(a), _flatten(b)
        for key in sorted(set(fa) | set(fb)):
            if fa.get(key) != fb.get(key):
                out.append(f"event {n} {key}: keel={fa.get(key)!r} temporal={fb.get(key)!r}")
    return out
