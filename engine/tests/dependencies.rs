//! The engine stays pure: its direct dependencies are message types and error derive only,
//! and nothing of storage, Raft or RocksDB is anywhere in its dependency tree.

use std::process::Command;

const ALLOWED_DIRECT: &[&str] = &["prost", "prost-wkt-types", "temporalio-protos", "thiserror"];
const FORBIDDEN_ANYWHERE: &[&str] = &[
    "rocksdb",
    "librocksdb-sys",
    "openraft",
    "keel-storage",
    "keel-raft",
    "rand",
];

#[test]
fn engine_depends_only_on_message_types() {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a [dependencies] table")
        .split("\n[")
        .next()
        .unwrap();
    for line in deps
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let name = line.split(['=', '.']).next().unwrap().trim();
        assert!(
            ALLOWED_DIRECT.contains(&name),
            "keel-engine may not depend on {name}"
        );
    }
}

#[test]
fn no_storage_or_raft_in_the_engine_tree() {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "keel-engine",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"keel-engine"));
    for forbidden in FORBIDDEN_ANYWHERE {
        assert!(
            !crates.contains(forbidden),
            "{forbidden} is in keel-engine's dependency tree"
        );
    }
}
