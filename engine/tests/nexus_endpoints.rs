//! Nexus endpoints through `apply`: created with version 1, updated only at the current
//! version, names unique across renames, a worker target's namespace required, deletes
//! removing the name's claim; every rejection writes nothing but the clock.

use keel_engine::mutation::{CreateNexusEndpoint, Kind, RegisterNamespace};
use keel_engine::{apply, keys, MemState, Mutation, Outcome, Rejection};
use temporalio_protos::temporal::api::nexus::v1::{
    endpoint_target, Endpoint, EndpointSpec, EndpointTarget,
};
use temporalio_protos::temporal::api::operatorservice::v1 as ops;
use temporalio_protos::temporal::api::workflowservice::v1 as ws;

const SEC: i64 = 1_000_000_000;

struct Harness {
    state: MemState,
    now: i64,
}

impl Harness {
    fn new() -> Self {
        let mut h = Harness {
            state: MemState::default(),
            now: 1_700_000_000 * SEC,
        };
        h.apply(Kind::RegisterNamespace(RegisterNamespace {
            request: Some(ws::RegisterNamespaceRequest {
                namespace: "default".into(),
                ..Default::default()
            }),
            namespace_id: "ns-id".into(),
            if_absent: false,
        }))
        .unwrap();
        h
    }

    fn apply(&mut self, kind: Kind) -> Result<Outcome, Rejection> {
        self.now += SEC;
        let applied = apply(
            &self.state,
            &Mutation {
                now: self.now,
                kind: Some(kind),
            },
        );
        if applied.outcome.is_err() {
            assert!(
                applied.writes.keys().all(|k| *k == keys::meta()),
                "a rejection wrote state"
            );
        }
        self.state.apply_writes(applied.writes);
        applied.outcome
    }

    fn create(&mut self, id: &str, spec: EndpointSpec) -> Result<Endpoint, Rejection> {
        self.apply(Kind::CreateNexusEndpoint(CreateNexusEndpoint {
            spec: Some(spec),
            id: id.into(),
        }))
        .map(endpoint)
    }

    fn update(
        &mut self,
        id: &str,
        version: i64,
        spec: EndpointSpec,
    ) -> Result<Endpoint, Rejection> {
        self.apply(Kind::UpdateNexusEndpoint(ops::UpdateNexusEndpointRequest {
            id: id.into(),
            version,
            spec: Some(spec),
        }))
        .map(endpoint)
    }

    fn delete(&mut self, id: &str) -> Result<Outcome, Rejection> {
        self.apply(Kind::DeleteNexusEndpoint(ops::DeleteNexusEndpointRequest {
            id: id.into(),
            version: 1,
        }))
    }
}

fn endpoint(outcome: Outcome) -> Endpoint {
    match outcome {
        Outcome::NexusEndpoint(e) => *e,
        other => panic!("not an endpoint: {other:?}"),
    }
}

fn spec(name: &str, namespace: &str, queue: &str) -> EndpointSpec {
    EndpointSpec {
        name: name.into(),
        description: None,
        target: Some(EndpointTarget {
            variant: Some(endpoint_target::Variant::Worker(endpoint_target::Worker {
                namespace: namespace.into(),
                task_queue: queue.into(),
            })),
        }),
    }
}

const ID_A: &str = "00000000-0000-4000-8000-00000000000a";
const ID_B: &str = "00000000-0000-4000-8000-00000000000b";

#[test]
fn an_endpoint_is_created_at_version_1_and_each_update_needs_the_current_version() {
    let mut h = Harness::new();
    let created = h.create(ID_A, spec("orders", "default", "q1")).unwrap();
    assert_eq!(created.version, 1);
    assert_eq!(
        created.url_prefix,
        format!("/nexus/endpoints/{ID_A}/services")
    );
    assert!(created.created_time.is_some());
    assert_eq!(created.last_modified_time, None, "never modified yet");

    let updated = h.update(ID_A, 1, spec("orders", "default", "q2")).unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.created_time, created.created_time);
    assert!(updated.last_modified_time.is_some());

    assert_eq!(
        h.update(ID_A, 1, spec("orders", "default", "q3")),
        Err(Rejection::FailedPrecondition(
            "nexus endpoint version mismatch. received: 1 expected 2".into()
        ))
    );
    assert_eq!(
        h.update(ID_B, 1, spec("other", "default", "q")),
        Err(Rejection::NotFound(format!(
            "error updating Nexus endpoint. endpoint ID {ID_B} not found"
        )))
    );
}

#[test]
fn names_stay_unique_across_creates_and_renames_and_a_delete_frees_the_name() {
    let mut h = Harness::new();
    h.create(ID_A, spec("orders", "default", "q")).unwrap();
    assert_eq!(
        h.create(ID_B, spec("orders", "default", "q")),
        Err(Rejection::AlreadyExists(
            "error creating Nexus endpoint. Endpoint with name orders already registered".into()
        ))
    );
    h.create(ID_B, spec("billing", "default", "q")).unwrap();
    assert_eq!(
        h.update(ID_B, 1, spec("orders", "default", "q")),
        Err(Rejection::AlreadyExists(
            "error updating Nexus endpoint. Endpoint with name orders already registered".into()
        ))
    );
    // A rename frees the old name.
    h.update(ID_A, 1, spec("orders-v2", "default", "q"))
        .unwrap();
    h.update(ID_B, 1, spec("orders", "default", "q")).unwrap();

    h.delete(ID_A).unwrap();
    assert_eq!(
        h.delete(ID_A),
        Err(Rejection::NotFound(format!(
            "error deleting nexus endpoint with ID: {ID_A}"
        )))
    );
    let again = h
        .create(
            "00000000-0000-4000-8000-00000000000c",
            spec("orders-v2", "default", "q"),
        )
        .unwrap();
    assert_eq!(again.version, 1);
}

#[test]
fn a_worker_target_needs_its_namespace() {
    let mut h = Harness::new();
    assert_eq!(
        h.create(ID_A, spec("orders", "elsewhere", "q")),
        Err(Rejection::FailedPrecondition(
            "could not verify namespace referenced by target exists: Namespace elsewhere is not found."
                .into()
        ))
    );
    h.create(ID_A, spec("orders", "default", "q")).unwrap();
    assert_eq!(
        h.update(ID_A, 1, spec("orders", "elsewhere", "q")),
        Err(Rejection::FailedPrecondition(
            "could not verify namespace referenced by target exists: Namespace elsewhere is not found."
                .into()
        ))
    );
}
