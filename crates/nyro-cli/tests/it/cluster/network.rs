//! A fault-injecting network between the nodes: one TCP proxy in front of each node, whose
//! address is the node's `advertise` address (so every node-to-node connection goes through
//! the proxy of the node it reaches), while clients talk to the nodes directly (the network
//! of a Jepsen test: faults between the nodes, never between the test and a node).
//!
//! A proxy learns which node opened a connection from the `x-nyrodb-node` header of its
//! first request (every node-to-node request carries it) and so knows the link's direction.
//! Bytes of a request travel `from -> to`, bytes of an answer `to -> from`, and each chunk
//! is subject to the fault of the link it travels on at that moment:
//!
//! - **cut**: the chunk is dropped and the connection goes silent both ways (nothing more
//!   is forwarded, nothing is closed): the sender sees a timeout, as behind a firewall that
//!   drops packets. Silent connections are closed when the network heals, or after
//!   [`SILENT_FOR`]. A cut of one direction only is a one-way partition: requests from `a`
//!   to `b` vanish, and so do `a`'s answers to requests `b` sends (`b`'s requests arrive and
//!   are acted on; `b` never learns the outcome), which is what a one-way packet loss does
//!   to TCP.
//! - **delay**: the chunk is held for a base time plus a random jitter, in order.
//!
//! Why a proxy rather than network namespaces: it needs no privileges (the tests run on any
//! CI machine as any user), faults change atomically for every link at once, and it sees
//! which node sends what. What it does not do: reorder or duplicate bytes within a
//! connection (TCP never does either), or cut client-to-node traffic.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Rng;

/// The header naming the node that sends a node-to-node request.
pub const NODE_HEADER: &str = "x-nyrodb-node";
/// Longest a silent connection is kept open before it is closed anyway.
pub const SILENT_FOR: Duration = Duration::from_secs(30);
/// Longest a proxy waits for the head of a connection's first request.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request head a proxy reads to find the sender.
const HEAD_LIMIT: usize = 64 * 1024;

/// A delay on one link: `base` plus a random share of `jitter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delay {
    pub base: Duration,
    pub jitter: Duration,
}

/// The faults on every link, by `(from, to)` node id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    cut: BTreeSet<(u64, u64)>,
    delay: BTreeMap<(u64, u64), Delay>,
}

impl Faults {
    /// Whether nothing is wrong.
    pub fn is_healthy(&self) -> bool {
        self.cut.is_empty() && self.delay.is_empty()
    }
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_healthy() {
            return f.write_str("healthy");
        }
        let cut: Vec<String> = self.cut.iter().map(|(a, b)| format!("{a}->{b}")).collect();
        let delay: Vec<String> = self
            .delay
            .iter()
            .map(|((a, b), d)| format!("{a}->{b} {:?}+{:?}", d.base, d.jitter))
            .collect();
        write!(f, "cut [{}], delayed [{}]", cut.join(" "), delay.join(", "))
    }
}

/// What happens to a chunk on a link.
enum Fate {
    Pass,
    Hold(Duration),
    Drop,
}

/// Counters of what the proxies did.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Chunks forwarded (after any delay).
    pub forwarded: AtomicU64,
    /// Chunks dropped on a cut link (each silences its connection).
    pub dropped: AtomicU64,
    /// Connections whose sender could not be told (no node header): passed unfaulted.
    pub anonymous: AtomicU64,
}

#[derive(Debug)]
struct Shared {
    faults: Mutex<Faults>,
    /// Bumped at each heal: silent connections close then.
    heals: watch::Sender<u64>,
    traffic: Traffic,
    random: Mutex<Rng>,
}

/// The network: the faults of every link and the proxies that apply them. Clones share it.
#[derive(Clone, Debug)]
pub struct Network {
    shared: Arc<Shared>,
}

impl Default for Network {
    fn default() -> Self {
        Self::new(0x5EED)
    }
}

impl Network {
    /// A healthy network; `seed` drives the delays' jitter.
    pub fn new(seed: u64) -> Self {
        Self {
            shared: Arc::new(Shared {
                faults: Mutex::new(Faults::default()),
                heals: watch::Sender::new(0),
                traffic: Traffic::default(),
                random: Mutex::new(Rng::new(seed)),
            }),
        }
    }

    /// Starts the proxy of node `to`, which forwards to 127.0.0.1:`upstream_port`, on a free
    /// port of its own (returned by [`Proxy::port`]).
    pub async fn proxy(&self, to: u64, upstream_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::clone(&self.shared);
        let task = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                let _ = inbound.set_nodelay(true);
                shared.traffic.connections.fetch_add(1, Ordering::Relaxed);
                let shared = Arc::clone(&shared);
                tokio::spawn(relay(shared, to, upstream_port, inbound));
            }
        });
        Proxy { port, task }
    }

    /// The faults now.
    pub fn faults(&self) -> Faults {
        self.shared.faults.lock().unwrap().clone()
    }

    /// What the proxies did so far.
    pub fn traffic(&self) -> &Traffic {
        &self.shared.traffic
    }

    fn change(&self, edit: impl FnOnce(&mut Faults)) {
        edit(&mut self.shared.faults.lock().unwrap());
    }

    /// Cuts the link `from -> to` (one way).
    pub fn cut(&self, from: u64, to: u64) {
        self.change(|faults| {
            faults.cut.insert((from, to));
        });
    }

    /// Cuts every link between a node of `one` and a node of `other`, both ways.
    pub fn partition(&self, one: &[u64], other: &[u64]) {
        self.change(|faults| {
            for &a in one {
                for &b in other {
                    faults.cut.insert((a, b));
                    faults.cut.insert((b, a));
                }
            }
        });
    }

    /// Delays every link between any two of `nodes`, both ways.
    pub fn delay_all(&self, nodes: &[u64], delay: Delay) {
        self.change(|faults| {
            for &a in nodes {
                for &b in nodes {
                    if a != b {
                        faults.delay.insert((a, b), delay);
                    }
                }
            }
        });
    }

    /// Removes every fault and closes the connections the cuts silenced.
    pub fn heal(&self) {
        self.change(|faults| *faults = Faults::default());
        self.shared.heals.send_modify(|heals| *heals += 1);
    }
}

impl Shared {
    fn fate(&self, from: u64, to: u64) -> Fate {
        let faults = self.faults.lock().unwrap();
        if faults.cut.contains(&(from, to)) {
            return Fate::Drop;
        }
        match faults.delay.get(&(from, to)) {
            None => Fate::Pass,
            Some(delay) => {
                let jitter = delay.jitter.as_micros() as u64 + 1;
                let extra = self.random.lock().unwrap().below(jitter);
                Fate::Hold(delay.base + Duration::from_micros(extra))
            }
        }
    }
}

/// A running proxy; dropping it stops accepting (open connections end with their nodes).
#[derive(Debug)]
pub struct Proxy {
    port: u16,
    task: JoinHandle<()>,
}

impl Proxy {
    /// The port it listens on (127.0.0.1): the node's advertised port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The sender named by the node header of the request head that `bytes` begin with (a
/// body may follow the head in the same bytes), if any.
fn sender(bytes: &[u8]) -> Option<u64> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = std::str::from_utf8(&bytes[..end]).ok()?;
    text.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if name.trim().eq_ignore_ascii_case(NODE_HEADER) {
            value.trim().parse().ok()
        } else {
            None
        }
    })
}

/// Reads the first request's head (up to its blank line) from `inbound`; `None` if the
/// connection ends or stalls first.
async fn read_head(inbound: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 8192];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < HEAD_LIMIT {
            let n = inbound.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            head.extend_from_slice(&chunk[..n]);
        }
        Some(())
    };
    tokio::time::timeout(HEAD_TIMEOUT, read).await.ok()??;
    Some(head)
}

/// How a pump stopped.
enum Ended {
    /// A side closed or failed: the connection ends.
    Closed,
    /// A chunk met a cut: the connection goes silent.
    Cut,
}

/// Copies `reader` to `writer` chunk by chunk, each subject to the link `from -> to`
/// (`None`: a sender nobody knows, never faulted), starting with `first`.
async fn pump(
    shared: &Shared,
    link: Option<(u64, u64)>,
    first: Vec<u8>,
    reader: &mut (impl AsyncReadExt + Unpin),
    writer: &mut (impl AsyncWriteExt + Unpin),
) -> Ended {
    let mut chunk = first;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        if !chunk.is_empty() {
            let fate = match link {
                Some((from, to)) => shared.fate(from, to),
                None => Fate::Pass,
            };
            match fate {
                Fate::Drop => {
                    shared.traffic.dropped.fetch_add(1, Ordering::Relaxed);
                    return Ended::Cut;
                }
                Fate::Hold(delay) => tokio::time::sleep(delay).await,
                Fate::Pass => {}
            }
            if writer.write_all(&chunk).await.is_err() {
                return Ended::Closed;
            }
            shared.traffic.forwarded.fetch_add(1, Ordering::Relaxed);
        }
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => return Ended::Closed,
            Ok(n) => chunk = buffer[..n].to_vec(),
        }
    }
}

/// One connection to node `to`: finds its sender, connects to the node and relays both
/// ways under the links' faults.
async fn relay(shared: Arc<Shared>, to: u64, upstream_port: u16, mut inbound: TcpStream) {
    let Some(head) = read_head(&mut inbound).await else {
        return;
    };
    let from = sender(&head);
    if from.is_none() {
        shared.traffic.anonymous.fetch_add(1, Ordering::Relaxed);
    }
    let mut heals = shared.heals.subscribe();
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream_port)).await else {
        return; // the node is down: the sender sees the connection close
    };
    let _ = upstream.set_nodelay(true);
    let (mut inbound_read, mut inbound_write) = inbound.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let requests = from.map(|from| (from, to));
    let answers = from.map(|from| (to, from));
    let ended = tokio::select! {
        ended = pump(&shared, requests, head, &mut inbound_read, &mut upstream_write) => ended,
        ended = pump(&shared, answers, Vec::new(), &mut upstream_read, &mut inbound_write) => ended,
    };
    if let Ended::Cut = ended {
        // Silent: both sockets stay open and unread until the network heals.
        let _ = tokio::time::timeout(SILENT_FOR, heals.changed()).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::mpsc;

    use super::{Network, sender};

    #[test]
    fn finds_the_sender_in_a_request_head() {
        let head = b"POST /internal/raft/append HTTP/1.1\r\nhost: x\r\nX-NyroDB-Node: 3\r\n\r\n";
        assert_eq!(sender(head), Some(3));
        assert_eq!(sender(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"), None);
        assert_eq!(
            sender(b"GET / HTTP/1.1\r\nx-nyrodb-node: many\r\n\r\n"),
            None
        );
        let with_body = b"POST /x HTTP/1.1\r\nx-nyrodb-node: 2\r\n\r\n\xff\xfe\x01";
        assert_eq!(sender(with_body), Some(2), "a binary body after the head");
    }

    /// A node stand-in: answers each connection's first chunk with `ok:` and that chunk,
    /// and reports what it received.
    async fn echo_node() -> (u16, mpsc::UnboundedReceiver<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (seen, received) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 4096];
                    while let Ok(n) = stream.read(&mut buffer).await {
                        if n == 0 {
                            break;
                        }
                        let _ = seen.send(buffer[..n].to_vec());
                        let mut answer = b"ok:".to_vec();
                        answer.extend_from_slice(&buffer[..n]);
                        let _ = stream.write_all(&answer).await;
                    }
                });
            }
        });
        (port, received)
    }

    /// Sends a request head from node `from` through `port`; the answer within `wait`,
    /// or `None`.
    async fn ask(port: u16, from: u64, wait: Duration) -> Option<Vec<u8>> {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let head = format!("GET /x HTTP/1.1\r\nx-nyrodb-node: {from}\r\n\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = vec![0u8; 4096];
        match tokio::time::timeout(wait, stream.read(&mut answer)).await {
            Ok(Ok(n)) if n > 0 => Some(answer[..n].to_vec()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_cut_link_drops_requests_one_way_and_heals() {
        let (upstream, mut received) = echo_node().await;
        let network = Network::new(7);
        let proxy = network.proxy(2, upstream).await;
        let wait = Duration::from_secs(5);

        let answer = ask(proxy.port(), 1, wait)
            .await
            .expect("a healthy link answers");
        assert!(answer.starts_with(b"ok:GET /x"));
        assert!(received.recv().await.is_some());

        network.cut(1, 2);
        assert_eq!(ask(proxy.port(), 1, Duration::from_millis(300)).await, None);
        assert!(received.try_recv().is_err(), "a request crossed a cut link");
        // The other direction of the link is cut for node 2's requests to node 1 only:
        // node 3 still reaches node 2.
        assert!(ask(proxy.port(), 3, wait).await.is_some());
        assert!(received.recv().await.is_some());

        network.cut(2, 3);
        // Node 3's request arrives, node 2's answer to it is lost.
        assert_eq!(ask(proxy.port(), 3, Duration::from_millis(300)).await, None);
        assert!(
            received.recv().await.is_some(),
            "the request should have arrived"
        );

        network.heal();
        assert!(ask(proxy.port(), 1, wait).await.is_some());
        assert!(ask(proxy.port(), 3, wait).await.is_some());
        assert_eq!(
            network
                .traffic()
                .anonymous
                .load(std::sync::atomic::Ordering::Relaxed),
            0
        );
    }
}
