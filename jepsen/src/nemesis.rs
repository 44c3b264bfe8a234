//! The nemesis's plan: which fault, on which nodes, from when to when. The plan is a pure
//! function of the seed, the number of nodes and the enabled fault kinds, so a failing run
//! replays with the same faults at the same offsets. The plan names node *slots* (1..=n):
//! a slot's node id changes when the membership nemesis replaces it. Faults that name "the
//! leader" are resolved when they are injected.

use crate::proxy::CLIENT;
use serde::Serialize;
use std::collections::BTreeSet;

/// Deterministic pseudo-random numbers (SplitMix64): the schedule and the workload's choices.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (`lo` if the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as u64) as usize]
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.range(0, i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// The fault families `--nemesis` enables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Family {
    Partition,
    Kill,
    Pause,
    Membership,
    Clock,
    Garbage,
}

impl Family {
    pub const ALL: [Family; 6] = [
        Family::Partition,
        Family::Kill,
        Family::Pause,
        Family::Membership,
        Family::Clock,
        Family::Garbage,
    ];

    pub fn parse_list(list: &str) -> anyhow::Result<Vec<Family>> {
        let mut out = BTreeSet::new();
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match name {
                "all" => out.extend(Family::ALL),
                "partition" => {
                    out.insert(Family::Partition);
                }
                "kill" => {
                    out.insert(Family::Kill);
                }
                "pause" => {
                    out.insert(Family::Pause);
                }
                "membership" => {
                    out.insert(Family::Membership);
                }
                "clock" => {
                    out.insert(Family::Clock);
                }
                "garbage" => {
                    out.insert(Family::Garbage);
                }
                other => anyhow::bail!(
                    "unknown nemesis {other:?} (partition, kill, pause, membership, clock, garbage, all)"
                ),
            }
        }
        Ok(out.into_iter().collect())
    }
}

/// Who a process fault hits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Target {
    Leader,
    Node(u64),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Fault {
    /// Two sides that cannot reach each other; `side` is the smaller.
    Halves { side: Vec<u64> },
    /// The leader cut off from every other node.
    IsolateLeader,
    /// Two halves that each reach `bridge`, and not each other.
    Bridge { bridge: u64 },
    /// Nodes in `order` on a ring: each reaches only its two neighbours.
    Ring { order: Vec<u64> },
    /// `from` cannot send to any other node; it still hears them.
    OneWay { from: u64 },
    /// The workload's clients cannot reach `node` (the nodes still reach each other).
    ClientsCut { node: u64 },
    /// SIGKILL, restarted at the heal.
    Kill(Target),
    /// SIGTERM, which must end the process cleanly (exit 0, a leader handing over) within
    /// `STOP_GRACE`; restarted at the heal.
    Stop(Target),
    /// SIGSTOP, SIGCONT at the heal.
    Pause(Target),
    /// Removed from the cluster, killed and its data wiped; at the heal a new node (a new id)
    /// in its place joins.
    Replace(Target),
    /// The node's wall clock set off by `offset_ms` (needs a `test-clock` build); back at the
    /// heal.
    ClockSkew { target: Target, offset_ms: i64 },
    /// Hostile traffic at every port of the node (see `garbage`) until the heal.
    Garbage(Target),
}

impl Fault {
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Halves { .. } => "partition-halves",
            Fault::IsolateLeader => "partition-isolate-leader",
            Fault::Bridge { .. } => "partition-bridge",
            Fault::Ring { .. } => "partition-ring",
            Fault::OneWay { .. } => "partition-one-way",
            Fault::ClientsCut { .. } => "partition-clients",
            Fault::Kill(_) => "kill",
            Fault::Stop(_) => "stop",
            Fault::Pause(_) => "pause",
            Fault::Replace(_) => "membership-replace",
            Fault::ClockSkew { .. } => "clock-skew",
            Fault::Garbage(_) => "garbage",
        }
    }
}

/// One or two faults together: injected at `at_ms` in order, healed at `heal_ms` (ms since
/// the run began) in reverse order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub at_ms: u64,
    pub heal_ms: u64,
    pub faults: Vec<Fault>,
}

/// Faults over `total_ms`: each step lasts 2–8 s, with 1–4 s of calm between. When partitions
/// and a process fault (kill, pause, clock) are both enabled, one step in four combines a
/// partition with one of them.
pub fn schedule(seed: u64, nodes: &[u64], families: &[Family], total_ms: u64) -> Vec<Step> {
    let mut rng = Rng::new(seed);
    let mut steps = Vec::new();
    if families.is_empty() || nodes.is_empty() {
        return steps;
    }
    let mut t = rng.range(1_000, 3_000);
    loop {
        let length = rng.range(2_000, 8_000);
        if t + length > total_ms {
            break;
        }
        let process: Vec<Family> = (families.iter().copied())
            .filter(|f| {
                matches!(
                    f,
                    Family::Kill | Family::Pause | Family::Clock | Family::Garbage
                )
            })
            .collect();
        let combine =
            families.contains(&Family::Partition) && !process.is_empty() && rng.range(0, 4) == 0;
        let faults = if combine {
            let second = *rng.pick(&process);
            vec![partition(&mut rng, nodes), fault(&mut rng, second, nodes)]
        } else {
            let family = *rng.pick(families);
            vec![fault(&mut rng, family, nodes)]
        };
        steps.push(Step {
            at_ms: t,
            heal_ms: t + length,
            faults,
        });
        t += length + rng.range(1_000, 4_000);
    }
    steps
}

fn fault(rng: &mut Rng, family: Family, nodes: &[u64]) -> Fault {
    match family {
        Family::Partition => partition(rng, nodes),
        Family::Kill if rng.range(0, 2) == 0 => Fault::Stop(target(rng, nodes)),
        Family::Kill => Fault::Kill(target(rng, nodes)),
        Family::Pause => Fault::Pause(target(rng, nodes)),
        Family::Membership => Fault::Replace(target(rng, nodes)),
        Family::Garbage => Fault::Garbage(target(rng, nodes)),
        Family::Clock => {
            let target = target(rng, nodes);
            let magnitude = rng.range(500, 20_000) as i64;
            let offset_ms = if rng.range(0, 2) == 0 {
                magnitude
            } else {
                -magnitude
            };
            Fault::ClockSkew { target, offset_ms }
        }
    }
}

fn target(rng: &mut Rng, nodes: &[u64]) -> Target {
    // The leader half of the time: that is where faults hurt most.
    if rng.range(0, 2) == 0 {
        Target::Leader
    } else {
        Target::Node(*rng.pick(nodes))
    }
}

fn partition(rng: &mut Rng, nodes: &[u64]) -> Fault {
    let mut order = nodes.to_vec();
    rng.shuffle(&mut order);
    // With fewer than five nodes a ring cuts nothing: it is not drawn.
    let first = if nodes.len() >= 5 { 0 } else { 1 };
    match rng.range(first, 6) {
        0 => Fault::Ring { order },
        1 => Fault::Halves {
            side: order[..nodes.len() / 2].to_vec(),
        },
        2 => Fault::IsolateLeader,
        3 => Fault::Bridge { bridge: order[0] },
        4 => Fault::OneWay { from: order[0] },
        _ => Fault::ClientsCut { node: order[0] },
    }
}

/// The directed node pairs (from, to) whose traffic a partition drops, given who leads now.
pub fn blocked_pairs(fault: &Fault, nodes: &[u64], leader: Option<u64>) -> BTreeSet<(u64, u64)> {
    let mut blocked = BTreeSet::new();
    let mut cut = |a: u64, b: u64| {
        if a != b {
            blocked.insert((a, b));
            blocked.insert((b, a));
        }
    };
    match fault {
        Fault::Halves { side } => {
            for &a in side {
                for &b in nodes.iter().filter(|n| !side.contains(n)) {
                    cut(a, b);
                }
            }
        }
        Fault::IsolateLeader => {
            if let Some(l) = leader {
                for &b in nodes {
                    cut(l, b);
                }
            }
        }
        Fault::Bridge { bridge } => {
            let rest: Vec<u64> = nodes.iter().copied().filter(|n| n != bridge).collect();
            let (left, right) = rest.split_at(rest.len() / 2);
            for &a in left {
                for &b in right {
                    cut(a, b);
                }
            }
        }
        Fault::Ring { order } => {
            let n = order.len();
            for i in 0..n {
                for j in 0..n {
                    let neighbours = (i + 1) % n == j || (j + 1) % n == i;
                    if i != j && !neighbours {
                        cut(order[i], order[j]);
                    }
                }
            }
        }
        Fault::OneWay { from } => {
            for &b in nodes.iter().filter(|n| *n != from) {
                blocked.insert((*from, b));
            }
        }
        Fault::ClientsCut { node } => cut(*node, CLIENT),
        Fault::Kill(_)
        | Fault::Stop(_)
        | Fault::Pause(_)
        | Fault::Replace(_)
        | Fault::ClockSkew { .. }
        | Fault::Garbage(_) => {}
    }
    blocked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_a_function_of_the_seed() {
        let nodes = [1, 2, 3];
        let a = schedule(7, &nodes, &Family::ALL, 120_000);
        assert_eq!(a, schedule(7, &nodes, &Family::ALL, 120_000));
        assert_ne!(a, schedule(8, &nodes, &Family::ALL, 120_000));
        assert!(a.len() >= 8, "{} faults in 2 minutes", a.len());
        assert!(a.windows(2).all(|w| w[0].heal_ms < w[1].at_ms));
        assert!(a.last().unwrap().heal_ms <= 120_000);
        let faults = |steps: &[Step]| -> Vec<Fault> {
            steps.iter().flat_map(|s| s.faults.clone()).collect()
        };
        let names: BTreeSet<&str> = faults(&a).iter().map(|f| f.name()).collect();
        assert!(names.len() >= 3, "{names:?}");
        let hour = schedule(7, &nodes, &Family::ALL, 3_600_000);
        assert!(hour.iter().any(|s| s.faults.len() == 2), "combinations");
        assert!(hour.iter().all(|s| s.faults.len() == 1
            || (s.faults[0].name().starts_with("partition")
                && !s.faults[1].name().starts_with("partition"))));
        let long = schedule(7, &nodes, &[Family::Partition], 3_600_000);
        assert!(faults(&long)
            .iter()
            .all(|f| !matches!(f, Fault::Ring { .. })));
        let five = schedule(7, &[1, 2, 3, 4, 5], &[Family::Partition], 3_600_000);
        assert!(faults(&five)
            .iter()
            .any(|f| matches!(f, Fault::Ring { .. })));
    }

    #[test]
    fn partitions_cut_the_right_pairs() {
        let nodes = [1, 2, 3, 4, 5];
        let halves = blocked_pairs(&Fault::Halves { side: vec![1, 2] }, &nodes, None);
        assert_eq!(halves.len(), 2 * 2 * 3);
        assert!(halves.contains(&(1, 3)) && halves.contains(&(3, 1)));
        assert!(!halves.contains(&(1, 2)) && !halves.contains(&(3, 4)));

        let isolated = blocked_pairs(&Fault::IsolateLeader, &nodes, Some(4));
        assert_eq!(isolated.len(), 8);
        assert!(isolated.iter().all(|(a, b)| *a == 4 || *b == 4));

        let bridge = blocked_pairs(&Fault::Bridge { bridge: 3 }, &nodes, None);
        assert!(bridge.iter().all(|(a, b)| *a != 3 && *b != 3));
        assert_eq!(bridge.len(), 2 * 2 * 2);

        let ring = blocked_pairs(
            &Fault::Ring {
                order: vec![1, 2, 3, 4, 5],
            },
            &nodes,
            None,
        );
        // Each node reaches its two neighbours: a majority of five with itself.
        for n in nodes {
            let reached = nodes
                .iter()
                .filter(|m| **m != n && !ring.contains(&(n, **m)))
                .count();
            assert_eq!(reached, 2);
        }

        let one_way = blocked_pairs(&Fault::OneWay { from: 2 }, &nodes, None);
        assert_eq!(one_way.len(), 4);
        assert!(one_way.iter().all(|(a, _)| *a == 2));

        let clients = blocked_pairs(&Fault::ClientsCut { node: 3 }, &nodes, None);
        assert_eq!(clients, BTreeSet::from([(3, CLIENT), (CLIENT, 3)]));
    }

    #[test]
    fn nemesis_lists_parse() {
        assert_eq!(Family::parse_list("all").unwrap(), Family::ALL.to_vec());
        assert_eq!(
            Family::parse_list("pause,kill,membership,clock").unwrap(),
            vec![
                Family::Kill,
                Family::Pause,
                Family::Membership,
                Family::Clock
            ]
        );
        assert!(Family::parse_list("flood").is_err());
        assert_eq!(
            Family::parse_list("garbage").unwrap(),
            vec![Family::Garbage]
        );
    }
}
