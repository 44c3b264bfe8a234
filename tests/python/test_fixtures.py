"""Keel's histories equal Temporal's: each scenario's normalised history (see scenarios.py)
must match the fixture recorded from Temporal's dev server by record_fixtures.py."""

import json
import pathlib

import pytest

from record_fixtures import FIXTURES, run_all
from scenarios import SCENARIOS, differences


@pytest.fixture
async def keel_histories(keel):
    return await run_all(keel.target, list(SCENARIOS))


# Every scenario runs in turn (some wait out timeouts of seconds): more than the default bound.
@pytest.mark.timeout(300)
async def test_histories_match_temporal_dev_server(keel_histories):
    report = []
    for name in SCENARIOS:
        expected = json.loads((FIXTURES / f"{name}.json").read_text())
        diff = differences(keel_histories[name], expected)
        if diff:
            report.append(f"{name} differs from Temporal's history:\n  " + "\n  ".join(diff))
    assert not report, "\n".join(report)
