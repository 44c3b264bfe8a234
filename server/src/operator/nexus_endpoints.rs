//! OperatorService's Nexus endpoint calls: Temporal's checks on the request (the engine's
//! `nexus_endpoints`), then a mutation for a change, or a read of the endpoint table after a
//! linearizable barrier (so a read sees every change acknowledged before it, on any node).

use crate::app::Keel;
use crate::errors;
use keel_engine::mutation::{CreateNexusEndpoint, Kind};
use keel_engine::nexus_endpoints as endpoints;
use keel_engine::{keys, Outcome};
use prost::Message;
use temporalio_protos::temporal::api::nexus::v1::{Endpoint, EndpointSpec};
use temporalio_protos::temporal::api::operatorservice::v1::*;
use tonic::Status;

/// Temporal's checks of a spec: all its issues in one INVALID_ARGUMENT, or the
/// FAILED_PRECONDITION of a target namespace that does not exist.
fn check_spec(keel: &Keel, spec: &Option<EndpointSpec>) -> Result<EndpointSpec, Status> {
    let spec = spec.clone().unwrap_or_default();
    let issues = endpoints::spec_issues(&spec, |namespace| {
        keel.namespace(namespace)
            .map(|_| ())
            .map_err(|s| s.message().to_string())
    })
    .map_err(Status::failed_precondition)?;
    issues_to_status(issues)?;
    Ok(spec)
}

fn issues_to_status(issues: Vec<String>) -> Result<(), Status> {
    if issues.is_empty() {
        Ok(())
    } else {
        Err(errors::invalid_argument(issues.join(", ")))
    }
}

fn endpoint_of(outcome: Outcome) -> Result<Endpoint, Status> {
    match outcome {
        Outcome::NexusEndpoint(endpoint) => Ok(*endpoint),
        other => Err(errors::internal(format!("unexpected outcome {other:?}"))),
    }
}

pub(super) async fn create(
    keel: &Keel,
    req: CreateNexusEndpointRequest,
) -> Result<CreateNexusEndpointResponse, Status> {
    let spec = check_spec(keel, &req.spec)?;
    let outcome = keel
        .propose(Kind::CreateNexusEndpoint(CreateNexusEndpoint {
            spec: Some(spec),
            id: uuid::Uuid::new_v4().to_string(),
        }))
        .await?;
    Ok(CreateNexusEndpointResponse {
        endpoint: Some(endpoint_of(outcome)?),
    })
}

pub(super) async fn update(
    keel: &Keel,
    mut req: UpdateNexusEndpointRequest,
) -> Result<UpdateNexusEndpointResponse, Status> {
    req.spec = Some(check_spec(keel, &req.spec)?);
    let outcome = keel.propose(Kind::UpdateNexusEndpoint(req)).await?;
    Ok(UpdateNexusEndpointResponse {
        endpoint: Some(endpoint_of(outcome)?),
    })
}

pub(super) async fn delete(
    keel: &Keel,
    req: DeleteNexusEndpointRequest,
) -> Result<DeleteNexusEndpointResponse, Status> {
    let mut issues = endpoints::id_issues(&req.id);
    if req.version <= 0 {
        issues.push("endpoint version is non-positive".into());
    }
    issues_to_status(issues)?;
    keel.propose(Kind::DeleteNexusEndpoint(req)).await?;
    Ok(DeleteNexusEndpointResponse {})
}

fn decode(bytes: &[u8]) -> Result<Endpoint, Status> {
    Endpoint::decode(bytes).map_err(errors::internal)
}

pub(super) async fn get(
    keel: &Keel,
    req: GetNexusEndpointRequest,
) -> Result<GetNexusEndpointResponse, Status> {
    issues_to_status(endpoints::id_issues(&req.id))?;
    keel.linearizable().await?;
    let bytes = keel
        .store
        .state_get(&keys::nexus_endpoint(&req.id))
        .map_err(errors::internal)?
        .ok_or_else(|| errors::not_found(endpoints::not_found_text(&req.id)))?;
    Ok(GetNexusEndpointResponse {
        endpoint: Some(decode(&bytes)?),
    })
}

/// Endpoints in id order, a page at a time; the token is Keel's own, the id of the page's last
/// endpoint (so a page goes on after it even if it was deleted meanwhile), and a page is
/// never empty but the first. With a name: that endpoint alone, or none (page size and token
/// ignored), as Temporal's.
pub(super) async fn list(
    keel: &Keel,
    req: ListNexusEndpointsRequest,
) -> Result<ListNexusEndpointsResponse, Status> {
    let size = if req.name.is_empty() {
        endpoints::page_size(req.page_size).map_err(errors::invalid_argument)?
    } else {
        0
    };
    keel.linearizable().await?;
    let store = &keel.store;
    if !req.name.is_empty() {
        let claim = store
            .state_get(&keys::nexus_endpoint_name(&req.name))
            .map_err(errors::internal)?;
        let endpoint = match claim {
            Some(claim) => {
                let claim = keel_engine::records::NexusEndpointClaim::decode(claim.as_slice())
                    .map_err(errors::internal)?;
                store
                    .state_get(&keys::nexus_endpoint(&claim.id))
                    .map_err(errors::internal)?
                    .map(|bytes| decode(&bytes))
                    .transpose()?
            }
            None => None,
        };
        return Ok(ListNexusEndpointsResponse {
            next_page_token: Vec::new(),
            endpoints: endpoint.into_iter().collect(),
        });
    }
    let prefix = keys::nexus_endpoint_prefix();
    let from = if req.next_page_token.is_empty() {
        None
    } else {
        let last = String::from_utf8(req.next_page_token.clone())
            .ok()
            .filter(|id| endpoints::id_issues(id).is_empty())
            .ok_or_else(|| errors::invalid_argument("invalid page token"))?;
        // Just after the previous page's last key: no key sorts between the two.
        let mut after = keys::nexus_endpoint(&last);
        after.push(0);
        Some(after)
    };
    let mut page = store
        .state_scan(&prefix, from.as_deref(), size + 1)
        .map_err(errors::internal)?
        .into_iter()
        .map(|(_, bytes)| decode(&bytes))
        .collect::<Result<Vec<_>, _>>()?;
    let next_page_token = if page.len() > size {
        page.truncate(size);
        page.last()
            .map(|e| e.id.clone().into_bytes())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    Ok(ListNexusEndpointsResponse {
        next_page_token,
        endpoints: page,
    })
}
