"""The workflows of test_priority.py (a module of their own: the SDK's sandbox refuses
workflows defined beside the tests' process imports)."""

import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import Priority


def priority_of(p) -> list:
    """A Priority as [priority_key, fairness_key, fairness_weight] (unset as 0, "", 0)."""
    if p is None:
        return [0, "", 0.0]
    return [p.priority_key or 0, p.fairness_key or "", p.fairness_weight or 0.0]


@activity.defn
async def priority_seen() -> list:
    """The priority of the activity task, as the worker got it."""
    return priority_of(activity.info().priority)


@workflow.defn
class ActivitiesAtPriorities:
    """Schedules one "take_turn" activity per [name, priority_key, fairness_key, weight] of
    the plan, all at once, on `queue`; returns their results in plan order."""

    @workflow.run
    async def run(self, queue: str, plan: list) -> list:
        def priority(key, fairness, weight):
            if not (key or fairness or weight):
                return None
            return Priority(priority_key=key or None, fairness_key=fairness or None,
                            fairness_weight=weight or None)

        return await asyncio.gather(*[
            workflow.execute_activity(
                "take_turn", name, task_queue=queue, activity_id=name,
                start_to_close_timeout=timedelta(seconds=60),
                priority=priority(key, fairness, weight), result_type=str,
            )
            for name, key, fairness, weight in plan
        ])


@workflow.defn
class PriorityEcho:
    """Its own priority as the worker sees it."""

    @workflow.run
    async def run(self) -> list:
        return priority_of(workflow.info().priority)


@workflow.defn
class InheritingParent:
    """What its run, a child without a priority of its own, a child that sets only the
    priority key, an activity without one and an activity that sets only the fairness key
    see as their priorities."""

    @workflow.run
    async def run(self) -> dict:
        own = priority_of(workflow.info().priority)
        plain_child = await workflow.execute_child_workflow(PriorityEcho.run, id=f"{workflow.info().workflow_id}-c1")
        keyed_child = await workflow.execute_child_workflow(
            PriorityEcho.run, id=f"{workflow.info().workflow_id}-c2", priority=Priority(priority_key=1))
        plain_activity = await workflow.execute_activity(
            "priority_seen", start_to_close_timeout=timedelta(seconds=30), result_type=list)
        fair_activity = await workflow.execute_activity(
            "priority_seen", start_to_close_timeout=timedelta(seconds=30), result_type=list,
            priority=Priority(fairness_key="tenant-b"))
        return {"own": own, "plain_child": plain_child, "keyed_child": keyed_child,
                "plain_activity": plain_activity, "fair_activity": fair_activity}


PRIORITY_WORKFLOWS = [ActivitiesAtPriorities, PriorityEcho, InheritingParent]
PRIORITY_ACTIVITIES = [priority_seen]
