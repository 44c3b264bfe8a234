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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::var("DEP_TEMPORALIO_PROTOS_DESCRIPTOR_PATH")
        .map_err(|_| "temporalio-protos did not publish its descriptor set")?;
    println!("cargo:rerun-if-changed={path}");
    let bytes = std::fs::read(&path)?;
    // The whole set, for the HTTP API's protojson transcoding (`http_api::json`).
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("temporal_descriptors.bin"), &bytes)?;
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
