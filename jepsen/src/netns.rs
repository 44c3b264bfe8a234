//! The other fault-injecting network (`--net netns`, root only): every node in a network
//! namespace of its own, the harness and its clients in another, all joined by a bridge in a
//! hub namespace, on 10.77.0.0/24 (slot N is 10.77.0.N, the clients 10.77.0.100). A partition
//! is nftables rules inside the receiving namespaces that drop the packets of blocked
//! (from, to) pairs: real packet loss, TCP retransmits and times out. Only namespaces, veth
//! pairs, a bridge and rules that the run creates are touched; `destroy` removes them all.

use crate::proxy::{Pairs, CLIENT};
use anyhow::{bail, Context};
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

const CLIENT_HOST: u8 = 100;

pub struct Netns {
    prefix: String,
    slots: u64,
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("run `ip` (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Netns {
    /// The namespaces of a run created earlier by `create` (from inside the client namespace).
    pub fn attach(prefix: &str, slots: u64) -> Netns {
        Netns {
            prefix: prefix.to_string(),
            slots,
        }
    }

    /// Creates the hub with its bridge, one namespace per slot and the clients' namespace.
    pub fn create(prefix: &str, slots: u64) -> anyhow::Result<Netns> {
        let net = Netns::attach(prefix, slots);
        if let Err(e) = net.build() {
            net.destroy();
            return Err(e);
        }
        Ok(net)
    }

    fn build(&self) -> anyhow::Result<()> {
        let hub = self.ns("hub");
        ip(&["netns", "add", &hub])?;
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &hub, "link", "set", "br0", "up"])?;
        for (member, host) in self.members() {
            let ns = self.ns(&member);
            let port = format!("v{member}");
            let addr = format!("{}/24", Self::host(host));
            ip(&["netns", "add", &ns])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&[
                "link", "add", "name", "eth0", "netns", &ns, "type", "veth", "peer", "name", &port,
                "netns", &hub,
            ])?;
            ip(&["-n", &hub, "link", "set", &port, "master", "br0"])?;
            ip(&["-n", &hub, "link", "set", &port, "up"])?;
            ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        }
        Ok(())
    }

    /// Removes every namespace of the run (and with them their links and rules).
    pub fn destroy(&self) {
        for (member, _) in self.members() {
            let _ = ip(&["netns", "del", &self.ns(&member)]);
        }
        let _ = ip(&["netns", "del", &self.ns("hub")]);
    }

    /// ("c", 100) for the clients, ("1", 1) … for the slots.
    fn members(&self) -> Vec<(String, u8)> {
        let mut m = vec![("c".to_string(), CLIENT_HOST)];
        m.extend((1..=self.slots).map(|s| (s.to_string(), s as u8)));
        m
    }

    pub fn ns(&self, member: &str) -> String {
        format!("{}-{member}", self.prefix)
    }

    pub fn clients_ns(&self) -> String {
        self.ns("c")
    }

    pub fn slot_ns(&self, slot: u64) -> String {
        self.ns(&slot.to_string())
    }

    fn host(host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, 0, host)
    }

    /// The address of a slot's node, or of the clients for `CLIENT`.
    pub fn addr(endpoint: u64) -> Ipv4Addr {
        if endpoint == CLIENT {
            Self::host(CLIENT_HOST)
        } else {
            Self::host(endpoint as u8)
        }
    }

    /// Drops the packets of every (from, to) pair of slots (or `CLIENT`) at `to`; everything
    /// not listed flows.
    pub fn block(&self, pairs: &Pairs) -> anyhow::Result<()> {
        for (member, host) in self.members() {
            let me = if host == CLIENT_HOST {
                CLIENT
            } else {
                host as u64
            };
            let from: Vec<String> = (pairs.iter())
                .filter(|(_, to)| *to == me)
                .map(|(from, _)| Self::addr(*from).to_string())
                .collect();
            let mut rules = String::from("flush ruleset\n");
            if !from.is_empty() {
                rules.push_str(&format!(
                    "table inet keel_jepsen {{\n  chain input {{\n    type filter hook input \
                     priority 0; policy accept;\n    ip saddr {{ {} }} drop\n  }}\n}}\n",
                    from.join(", ")
                ));
            }
            self.nft(&self.ns(&member), &rules)?;
        }
        Ok(())
    }

    pub fn heal(&self) -> anyhow::Result<()> {
        self.block(&Pairs::new())
    }

    fn nft(&self, ns: &str, rules: &str) -> anyhow::Result<()> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("run nft (Debian package nftables)")?;
        child
            .stdin
            .take()
            .context("nft stdin")?
            .write_all(rules.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "nft in {ns}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }
}
