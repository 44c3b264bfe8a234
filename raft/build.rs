//! Generates the tonic client and server of Keel's peer service (Raft RPCs between nodes).
//! The messages are prost structs in `src/peer/messages.rs`; no .proto file is needed.

fn method(name: &str, route: &str, input: &str, output: &str) -> tonic_build::manual::Method {
    tonic_build::manual::Method::builder()
        .name(name)
        .route_name(route)
        .input_type(format!("crate::peer::messages::{input}"))
        .output_type(format!("crate::peer::messages::{output}"))
        .codec_path("tonic_prost::ProstCodec")
        .build()
}

fn main() {
    let service = tonic_build::manual::Service::builder()
        .name("RaftPeer")
        .package("keel.raft.v1")
        .method(method(
            "append_entries",
            "AppendEntries",
            "AppendEntriesMsg",
            "AppendEntriesReply",
        ))
        .method(method("vote", "Vote", "VoteMsg", "VoteReply"))
        .method(method(
            "install_snapshot",
            "InstallSnapshot",
            "SnapshotChunkMsg",
            "SnapshotChunkReply",
        ))
        .method(method("hello", "Hello", "HelloMsg", "HelloReply"))
        .method(method(
            "read_index",
            "ReadIndex",
            "ReadIndexMsg",
            "ReadIndexReply",
        ))
        .method(method(
            "timeout_now",
            "TimeoutNow",
            "TimeoutNowMsg",
            "TimeoutNowReply",
        ))
        .build();
    tonic_build::manual::Builder::new().compile(&[service]);
}
