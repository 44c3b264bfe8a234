//! Generates the tonic client and server of Keel's admin service. The messages are prost
//! structs in `src/messages.rs`; no .proto file is needed.

fn method(name: &str, route: &str, input: &str, output: &str) -> tonic_build::manual::Method {
    tonic_build::manual::Method::builder()
        .name(name)
        .route_name(route)
        .input_type(format!("crate::messages::{input}"))
        .output_type(format!("crate::messages::{output}"))
        .codec_path("tonic_prost::ProstCodec")
        .build()
}

fn main() {
    let service = tonic_build::manual::Service::builder()
        .name("KeelAdmin")
        .package("keel.admin.v1")
        .method(method(
            "node_status",
            "NodeStatus",
            "NodeStatusRequest",
            "NodeStatus",
        ))
        .method(method(
            "state_checksum",
            "StateChecksum",
            "StateChecksumRequest",
            "StateChecksum",
        ))
        .method(method(
            "campaign",
            "Campaign",
            "CampaignRequest",
            "CampaignReply",
        ))
        .method(method(
            "add_node",
            "AddNode",
            "AddNodeRequest",
            "AddNodeReply",
        ))
        .method(method(
            "remove_node",
            "RemoveNode",
            "RemoveNodeRequest",
            "RemoveNodeReply",
        ))
        .method(
            tonic_build::manual::Method::builder()
                .name("snapshot_save")
                .route_name("SnapshotSave")
                .input_type("crate::messages::SnapshotSaveRequest")
                .output_type("crate::messages::SnapshotChunk")
                .codec_path("tonic_prost::ProstCodec")
                .server_streaming()
                .build(),
        )
        .method(method(
            "compact",
            "Compact",
            "CompactRequest",
            "CompactReply",
        ))
        .build();
    tonic_build::manual::Builder::new().compile(&[service]);
}
