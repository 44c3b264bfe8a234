//! The engine stays pure: its direct dependencies are message types, error derive, JSON (the
//! payloads of search attributes), RFC 3339 time parsing without a clock and the tz database
//! (schedules' time zones); nothing of storage, Raft or RocksDB is anywhere in its tree.

use std::path::PathBuf;
use std::process::Command;

/// The crate's directory as cargo gives it when it runs the test (not as it was at compile
/// time: a test binary may be reused by a checkout in another place).
fn crate_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

const ALLOWED_DIRECT: &[&str] = &[
    "chrono",
    "chrono-tz",
    "prost",
    "prost-wkt-types",
    "serde_json",
    "temporalio-protos",
    "thiserror",
];
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
    let manifest = std::fs::read_to_string(crate_dir().join("Cargo.toml")).unwrap();
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
        if name == "chrono" {
            // Without its default features chrono has no clock (`Utc::now`) to call.
            assert!(
                line.contains("default-features = false") && !line.contains("clock"),
                "chrono must come without its clock: {line}"
            );
        }
    }
}

#[test]
fn no_storage_or_raft_in_the_engine_tree() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let out = Command::new(cargo)
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
        .current_dir(crate_dir())
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
