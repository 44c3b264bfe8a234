"""Cron workflows ("Temporal semantics II"): runs started on a schedule, each seeing the last
successful run's result, one failing on purpose."""

from temporalio import workflow
from temporalio.exceptions import ApplicationError


@workflow.defn
class CronCounterWorkflow:
    """Each run returns the previous successful run's count plus one; the run that finds count
    1 fails instead (the schedule goes on)."""

    @workflow.run
    async def run(self) -> int:
        count = workflow.get_last_completion_result(type_hint=int) or 0
        failure = workflow.get_last_failure()
        if count == 1 and failure is None:
            raise ApplicationError("the second run fails", non_retryable=True)
        return count + 1


CRON_WORKFLOWS = [CronCounterWorkflow]
