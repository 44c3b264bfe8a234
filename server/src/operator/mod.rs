//! OperatorService: the namespace's custom search attributes (Add, Remove, List), decided by
//! the engine's `search_attributes`, and Nexus endpoints (`nexus_endpoints`). Every other
//! operator call answers UNIMPLEMENTED.

mod nexus_endpoints;

use crate::app::Keel;
use crate::errors;
use crate::proto::operatorservice::operator_service_server::OperatorService;
use keel_engine::mutation::Kind;
use keel_engine::search_attributes;
use std::sync::Arc;
use temporalio_protos::temporal::api::operatorservice::v1::*;
use tonic::{Request, Response, Status};

#[derive(Clone)]
pub struct Operator {
    pub keel: Arc<Keel>,
}

#[tonic::async_trait]
impl OperatorService for Operator {
    #[tracing::instrument(name = "add_search_attributes", skip_all)]
    async fn add_search_attributes(
        &self,
        req: Request<AddSearchAttributesRequest>,
    ) -> Result<Response<AddSearchAttributesResponse>, Status> {
        let req = req.into_inner();
        self.keel.namespace(&req.namespace)?;
        if req.search_attributes.is_empty() {
            return Err(errors::invalid_argument(
                "SearchAttributes are not set on request.",
            ));
        }
        self.keel.propose(Kind::AddSearchAttributes(req)).await?;
        Ok(Response::new(AddSearchAttributesResponse::default()))
    }

    #[tracing::instrument(name = "remove_search_attributes", skip_all)]
    async fn remove_search_attributes(
        &self,
        req: Request<RemoveSearchAttributesRequest>,
    ) -> Result<Response<RemoveSearchAttributesResponse>, Status> {
        let req = req.into_inner();
        self.keel.namespace(&req.namespace)?;
        if req.search_attributes.is_empty() {
            return Err(errors::invalid_argument(
                "SearchAttributes are not set on request.",
            ));
        }
        self.keel.propose(Kind::RemoveSearchAttributes(req)).await?;
        Ok(Response::new(RemoveSearchAttributesResponse::default()))
    }

    #[tracing::instrument(name = "list_search_attributes", skip_all)]
    async fn list_search_attributes(
        &self,
        req: Request<ListSearchAttributesRequest>,
    ) -> Result<Response<ListSearchAttributesResponse>, Status> {
        let ns = self.keel.namespace(&req.get_ref().namespace)?;
        Ok(Response::new(ListSearchAttributesResponse {
            custom_attributes: ns.search_attributes.into_iter().collect(),
            system_attributes: search_attributes::system_attributes()
                .map(|(name, ty)| (name.to_string(), ty as i32))
                .collect(),
            storage_schema: Default::default(),
        }))
    }

    #[tracing::instrument(name = "create_nexus_endpoint", skip_all)]
    async fn create_nexus_endpoint(
        &self,
        req: Request<CreateNexusEndpointRequest>,
    ) -> Result<Response<CreateNexusEndpointResponse>, Status> {
        nexus_endpoints::create(&self.keel, req.into_inner())
            .await
            .map(Response::new)
    }

    #[tracing::instrument(name = "update_nexus_endpoint", skip_all)]
    async fn update_nexus_endpoint(
        &self,
        req: Request<UpdateNexusEndpointRequest>,
    ) -> Result<Response<UpdateNexusEndpointResponse>, Status> {
        nexus_endpoints::update(&self.keel, req.into_inner())
            .await
            .map(Response::new)
    }

    #[tracing::instrument(name = "delete_nexus_endpoint", skip_all)]
    async fn delete_nexus_endpoint(
        &self,
        req: Request<DeleteNexusEndpointRequest>,
    ) -> Result<Response<DeleteNexusEndpointResponse>, Status> {
        nexus_endpoints::delete(&self.keel, req.into_inner())
            .await
            .map(Response::new)
    }

    #[tracing::instrument(name = "get_nexus_endpoint", skip_all)]
    async fn get_nexus_endpoint(
        &self,
        req: Request<GetNexusEndpointRequest>,
    ) -> Result<Response<GetNexusEndpointResponse>, Status> {
        nexus_endpoints::get(&self.keel, req.into_inner())
            .await
            .map(Response::new)
    }

    #[tracing::instrument(name = "list_nexus_endpoints", skip_all)]
    async fn list_nexus_endpoints(
        &self,
        req: Request<ListNexusEndpointsRequest>,
    ) -> Result<Response<ListNexusEndpointsResponse>, Status> {
        nexus_endpoints::list(&self.keel, req.into_inner())
            .await
            .map(Response::new)
    }
}
