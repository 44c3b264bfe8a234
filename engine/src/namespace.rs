//! RegisterNamespace and UpdateNamespace.

use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::keys;
use crate::mutation::RegisterNamespace;
use crate::outcome::Outcome;
use crate::records::NamespaceRecord;
use crate::time::nanos;
use temporalio_protos::temporal::api::workflowservice::v1 as ws;

pub(crate) fn register(ctx: &mut ApplyCtx, m: RegisterNamespace) -> ApplyResult<Outcome> {
    let req = m.request.unwrap_or_default();
    let key = keys::namespace(&req.namespace);
    if let Some(existing) = ctx.get::<NamespaceRecord>(&key)? {
        return if m.if_absent {
            Ok(Outcome::Namespace(existing))
        } else {
            Err(Rejection::NamespaceAlreadyExists(req.namespace))
        };
    }
    let record = NamespaceRecord {
        name: req.namespace,
        id: m.namespace_id,
        description: req.description,
        owner_email: req.owner_email,
        retention: nanos(&req.workflow_execution_retention_period),
        data: req.data.into_iter().collect(),
        created_time: ctx.now,
        search_attributes: Default::default(),
        running_batch_jobs: Vec::new(),
    };
    ctx.put(key, &record);
    Ok(Outcome::Namespace(record))
}

pub(crate) fn update(ctx: &mut ApplyCtx, req: ws::UpdateNamespaceRequest) -> ApplyResult<Outcome> {
    let mut record = ctx.namespace(&req.namespace)?;
    if let Some(info) = req.update_info {
        if !info.description.is_empty() {
            record.description = info.description;
        }
        if !info.owner_email.is_empty() {
            record.owner_email = info.owner_email;
        }
        record.data.extend(info.data);
    }
    if let Some(config) = req.config {
        if config.workflow_execution_retention_ttl.is_some() {
            record.retention = nanos(&config.workflow_execution_retention_ttl);
        }
    }
    ctx.put(keys::namespace(&record.name), &record);
    Ok(Outcome::Namespace(record))
}
