//! Generates the gRPC server traits Keel implements from the descriptor set that
//! `temporalio-protos` publishes to its direct dependents. Message types are not generated
//! here: they are the crate's own (`extern_path`), so handlers and SDKs share one set of types.

use prost::Message;

/// The service files Keel serves; every other file in the set only contributes message types.
const SERVED_FILES: &[&str] = &[
    "temporal/api/workflowservice/v1/service.proto",
    "temporal/api/operatorservice/v1/service.proto",
    "health/v1/health.proto",
];

/// The files the HTTP API's protojson transcoding (`http_api::json`) needs: the served
/// services, the error details and `google.rpc.Status`, and everything they import, without
/// their comments (source info), which would only take memory in the descriptor pool.
fn json_descriptors(bytes: &[u8]) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let fds = prost_types::FileDescriptorSet::decode(bytes)?;
    let by_name: std::collections::HashMap<String, &prost_types::FileDescriptorProto> = fds
        .file
        .iter()
        .map(|f| (f.name.clone().unwrap_or_default(), f))
        .collect();
    let mut wanted: Vec<String> = SERVED_FILES
        .iter()
        .chain(&[
            "temporal/api/errordetails/v1/message.proto",
            "google/rpc/status.proto",
        ])
        .map(|s| s.to_string())
        .collect();
    let mut kept = std::collections::BTreeSet::new();
    while let Some(name) = wanted.pop() {
        let Some(file) = by_name.get(&name) else {
            return Err(format!("{name} is not in the descriptor set").into());
        };
        if kept.insert(name) {
            wanted.extend(file.dependency.iter().cloned());
        }
    }
    // In the set's own order, which lists every file after the files it imports.
    let file = fds
        .file
        .iter()
        .filter(|f| kept.contains(f.name.as_deref().unwrap_or_default()))
        .map(|f| prost_types::FileDescriptorProto {
            source_code_info: None,
            ..f.clone()
        })
        .collect();
    Ok(prost_types::FileDescriptorSet { file }.encode_to_vec())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::var("DEP_TEMPORALIO_PROTOS_DESCRIPTOR_PATH")
        .map_err(|_| "temporalio-protos did not publish its descriptor set")?;
    println!("cargo:rerun-if-changed={path}");
    let bytes = std::fs::read(&path)?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("temporal_descriptors.bin"),
        json_descriptors(&bytes)?,
    )?;
    let mut fds = prost_types::FileDescriptorSet::decode(bytes.as_slice())?;
    fds.file
        .retain(|f| SERVED_FILES.contains(&f.name.as_deref().unwrap_or_default()));
    if fds.file.len() != SERVED_FILES.len() {
        return Err(format!("expected {SERVED_FILES:?} in the descriptor set").into());
    }
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .generate_default_stubs(true)
        .extern_path(".temporal", "::temporalio_protos::temporal")
        .extern_path(".grpc", "::temporalio_protos::grpc")
        .compile_fds(fds)?;
    Ok(())
}
