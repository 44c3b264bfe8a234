//! OperatorService: the namespace's custom search attributes (Add, Remove, List), decided by
//! the engine's `search_attributes`. Every other operator call answers UNIMPLEMENTED.

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
}
