//! Server traits generated at build time from the `temporalio-protos` descriptor set (see
//! build.rs). Message types are the crate's own.

#![allow(clippy::all, missing_docs, unreachable_pub)]

pub mod workflowservice {
    tonic::include_proto!("temporal.api.workflowservice.v1");
}

pub mod operatorservice {
    tonic::include_proto!("temporal.api.operatorservice.v1");
}

pub mod health {
    tonic::include_proto!("grpc.health.v1");
}
