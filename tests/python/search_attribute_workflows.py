"""Search attributes and memo ("Temporal semantics II"): upserts from a workflow (also the
TemporalChangeVersion the SDK upserts for a patch), memo updates, and an upsert of an
attribute the namespace does not have."""

from temporalio import workflow
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.common import SearchAttributeKey

KEYWORD = SearchAttributeKey.for_keyword("CustomKeywordField")
INT = SearchAttributeKey.for_int("CustomIntField")
UNREGISTERED = SearchAttributeKey.for_keyword("NotRegisteredField")


async def register_search_attributes(client, namespace="default"):
    """The custom attributes the scenarios use (a dev server has none)."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={
                KEYWORD.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
                INT.name: IndexedValueType.INDEXED_VALUE_TYPE_INT,
            },
        )
    )


@workflow.defn
class UpsertWorkflow:
    """Sets two attributes, then removes one, updates the memo (adding a key, removing one)
    and takes a patch (which upserts TemporalChangeVersion)."""

    @workflow.run
    async def run(self) -> str:
        workflow.upsert_search_attributes([KEYWORD.value_set("upserted"), INT.value_set(7)])
        await workflow.sleep(0.1)
        workflow.upsert_search_attributes([INT.value_unset()])
        workflow.upsert_memo({"note": "hello", "gone": None})
        patched = workflow.patched("my-patch")
        return f"patched={patched}"


@workflow.defn
class BadUpsertWorkflow:
    """Upserts an attribute the namespace does not have: every workflow task fails."""

    @workflow.run
    async def run(self) -> str:
        workflow.upsert_search_attributes([UNREGISTERED.value_set("x")])
        return "upserted?"


SEARCH_ATTRIBUTE_WORKFLOWS = [UpsertWorkflow, BadUpsertWorkflow]
