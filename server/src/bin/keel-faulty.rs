//! `keel-faulty`: the `keel` binary built with the `fault-injection` feature, for showing that
//! keel-jepsen's checker catches a server that breaks its promises. Never shipped: cargo
//! builds it only when the feature is asked for.

#[path = "../main.rs"]
mod keel_main;

fn main() {
    keel_main::main();
}
