//! Copies the descriptor set temporalio-protos publishes into OUT_DIR, so the engine can
//! encode Temporal messages canonically (see src/canonical.rs).

fn main() {
    let path = std::env::var("DEP_TEMPORALIO_PROTOS_DESCRIPTOR_PATH")
        .expect("temporalio-protos publishes its descriptor set to direct dependents");
    println!("cargo:rerun-if-changed={path}");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"))
        .join("temporal_descriptors.bin");
    std::fs::copy(&path, out).expect("copy the descriptor set");
}
