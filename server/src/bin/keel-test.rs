//! `keel-test`: the `keel` binary built with the `test-clock` feature (a clock offset the
//! clock-skew nemesis of keel-jepsen sets). Never shipped: cargo builds it only when the
//! feature is asked for.

#[path = "../main.rs"]
mod keel_main;

fn main() {
    keel_main::main();
}
