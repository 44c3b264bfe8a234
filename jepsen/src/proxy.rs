//! The fault-injecting network on loopback. Every node's client and peer ports are reached
//! through a TCP proxy; each node makes its outgoing connections from its own loopback address
//! (`127.0.1.<id>`, the server's `--source-ip`), so a proxy knows which node is talking to
//! which. A partition is a set of blocked directed pairs (from, to): bytes from `from` to `to`
//! are held, as a network that drops packets holds a TCP stream, until the pair is unblocked;
//! then they flow again (TCP's retransmission after a heal). The workload's own connections
//! come from 127.0.0.1 and are never blocked.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The endpoint id of the workload's clients.
pub const CLIENT: u64 = 0;

/// The loopback address node `id` connects from.
pub fn source_ip(id: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 1, id as u8))
}

fn endpoint_of(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) if v4.octets()[..3] == [127, 0, 1] => v4.octets()[3] as u64,
        _ => CLIENT,
    }
}

pub type Pairs = BTreeSet<(u64, u64)>;

#[derive(Clone)]
pub struct Net {
    blocked: watch::Sender<Pairs>,
}

impl Default for Net {
    fn default() -> Self {
        Net {
            blocked: watch::channel(Pairs::new()).0,
        }
    }
}

impl Net {
    pub fn block(&self, pairs: Pairs) {
        self.blocked.send_replace(pairs);
    }

    pub fn heal(&self) {
        self.block(Pairs::new());
    }

    /// Starts a proxy to node `dst` listening at `upstream`; returns the proxy's address.
    pub async fn proxy(&self, dst: u64, upstream: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let blocked = self.blocked.subscribe();
        tokio::spawn(async move {
            while let Ok((downstream, from)) = listener.accept().await {
                let src = endpoint_of(from.ip());
                let blocked = blocked.clone();
                tokio::spawn(async move {
                    // A node that is down refuses: so does its proxy (the client sees EOF).
                    let Ok(up) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = up.set_nodelay(true);
                    let _ = downstream.set_nodelay(true);
                    let (down_r, down_w) = downstream.into_split();
                    let (up_r, up_w) = up.into_split();
                    tokio::spawn(pump(down_r, up_w, (src, dst), blocked.clone()));
                    tokio::spawn(pump(up_r, down_w, (dst, src), blocked));
                });
            }
        });
        Ok(addr)
    }
}

/// Copies one direction of a connection, holding the bytes while `pair` is blocked.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    pair: (u64, u64),
    mut blocked: watch::Receiver<Pairs>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if blocked.wait_for(|b| !b.contains(&pair)).await.is_err() {
            break;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn connect_from(ip: IpAddr, to: SocketAddr) -> TcpStream {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(ip, 0)).unwrap();
        socket.connect(to).await.unwrap()
    }

    async fn round_trip(s: &mut TcpStream, within: Duration) -> bool {
        s.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        matches!(
            tokio::time::timeout(within, s.read_exact(&mut buf)).await,
            Ok(Ok(_))
        )
    }

    #[tokio::test]
    async fn a_blocked_pair_holds_bytes_until_healed() {
        let net = Net::default();
        let proxy = net.proxy(2, echo_server().await).await.unwrap();
        let mut from1 = connect_from(source_ip(1), proxy).await;
        let mut from3 = connect_from(source_ip(3), proxy).await;
        let mut client = TcpStream::connect(proxy).await.unwrap();
        assert!(round_trip(&mut from1, Duration::from_secs(2)).await);

        net.block(Pairs::from([(1, 2), (2, 1)]));
        assert!(!round_trip(&mut from1, Duration::from_millis(300)).await);
        assert!(round_trip(&mut from3, Duration::from_secs(2)).await);
        assert!(round_trip(&mut client, Duration::from_secs(2)).await);

        net.heal();
        // The held ping and its echo arrive after the heal, and the stream goes on.
        let mut buf = [0u8; 4];
        from1.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        assert!(round_trip(&mut from1, Duration::from_secs(2)).await);
    }

    #[tokio::test]
    async fn one_way_blocks_only_one_direction() {
        let net = Net::default();
        let proxy = net.proxy(2, echo_server().await).await.unwrap();
        let mut from1 = connect_from(source_ip(1), proxy).await;
        // 2 cannot send to 1: 1's ping reaches 2, the echo does not come back.
        net.block(Pairs::from([(2, 1)]));
        assert!(!round_trip(&mut from1, Duration::from_millis(300)).await);
        net.heal();
        let mut buf = [0u8; 4];
        from1.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
    }
}
