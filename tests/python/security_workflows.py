"""The workflow and activity test_security.py runs (in their own module: the workflow
sandbox re-imports it, without the test's TLS and crypto imports)."""

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def secure_shout(text: str) -> str:
    return text.upper()


@workflow.defn
class SecureGreet:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(secure_shout, text, start_to_close_timeout=timedelta(seconds=10))
