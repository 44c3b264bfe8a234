"""The Nexus service, its handlers and the caller workflow of test_nexus_operations.py and the
nexus scenarios (a module of their own: the SDK's sandbox refuses workflows defined beside
the tests' process imports)."""

from datetime import timedelta

import nexusrpc
import nexusrpc.handler
from temporalio import nexus, workflow

# Attempts per input of the flaky operation (its first attempt fails as a retryable error).
FLAKY_ATTEMPTS: dict = {}


@workflow.defn
class EchoWorkflow:
    """What an asynchronous operation of the service would start."""

    @workflow.run
    async def run(self, name: str) -> str:
        return f"echo {name}"


@workflow.defn
class EchoWhenToldWorkflow:
    """Echoes its input once signalled "go"."""

    def __init__(self) -> None:
        self.told = False

    @workflow.run
    async def run(self, name: str) -> str:
        await workflow.wait_condition(lambda: self.told)
        return f"echo {name}"

    @workflow.signal
    def go(self) -> None:
        self.told = True


@nexusrpc.service
class Greeter:
    greet: nexusrpc.Operation[str, str]
    refuse: nexusrpc.Operation[str, str]
    flaky: nexusrpc.Operation[str, str]
    echo_later: nexusrpc.Operation[str, str]
    echo_when_told: nexusrpc.Operation[str, str]


@nexusrpc.handler.service_handler(service=Greeter)
class GreeterHandler:
    @nexusrpc.handler.sync_operation
    async def greet(self, ctx: nexusrpc.handler.StartOperationContext, name: str) -> str:
        return f"hello {name}"

    @nexusrpc.handler.sync_operation
    async def refuse(self, ctx: nexusrpc.handler.StartOperationContext, name: str) -> str:
        raise nexusrpc.HandlerError(f"no greeting for {name}", type=nexusrpc.HandlerErrorType.BAD_REQUEST)

    @nexusrpc.handler.sync_operation
    async def flaky(self, ctx: nexusrpc.handler.StartOperationContext, name: str) -> str:
        FLAKY_ATTEMPTS[name] = FLAKY_ATTEMPTS.get(name, 0) + 1
        if FLAKY_ATTEMPTS[name] == 1:
            raise nexusrpc.HandlerError("try again", type=nexusrpc.HandlerErrorType.INTERNAL)
        return f"hello {name} at attempt {FLAKY_ATTEMPTS[name]}"

    @nexus.workflow_run_operation
    async def echo_later(self, ctx: nexus.WorkflowRunOperationContext, name: str) -> nexus.WorkflowHandle[str]:
        return await ctx.start_workflow(EchoWorkflow.run, name, id=f"echo-{name}")

    @nexus.workflow_run_operation
    async def echo_when_told(self, ctx: nexus.WorkflowRunOperationContext, name: str) -> nexus.WorkflowHandle[str]:
        return await ctx.start_workflow(EchoWhenToldWorkflow.run, name, id=f"told-{name}")


@workflow.defn
class NexusCaller:
    """Calls `operation` of the Greeter service through `endpoint` with `name`; returns its
    result, or the failure's type and message (and its cause's) as text."""

    @workflow.run
    async def run(self, endpoint: str, operation: str, name: str, timeout_seconds: float) -> str:
        client = workflow.create_nexus_client(endpoint=endpoint, service=Greeter)
        try:
            return await client.execute_operation(
                operation, name, schedule_to_close_timeout=timedelta(seconds=timeout_seconds))
        except Exception as e:
            return f"{type(e).__name__}: {e} / {type(e.__cause__).__name__}: {e.__cause__}"


NEXUS_WORKFLOWS = [NexusCaller, EchoWorkflow, EchoWhenToldWorkflow]
