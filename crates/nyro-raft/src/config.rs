//! `[cluster]` of `nyrodb.toml` (contract section 7): whether this node is in a cluster, its
//! id and address, the initial voters, the shared secret and Raft's timing.
//!
//! The keys are described once, in a key table ([`cluster_keys`]) that nyro-server adds to
//! the database's and the server's, so that the file, `NYRODB_CLUSTER_<KEY>` variables and
//! `serve` flags all set them the same way. Each key's own check runs as it is read; the
//! checks that relate keys ([`ClusterSettings::check`]) run once every source is applied
//! (the file alone may rightly lack the secret that the environment gives):
//!
//! - `node_id` >= 1 needs a non-empty `secret`; `node_id = 0` (standalone) with a
//!   `bootstrap` list is refused (the node id was most likely forgotten);
//! - a non-empty `bootstrap` lists this `node_id`, at the address this node advertises
//!   (`advertise`, by default `server.listen`): other nodes reach it there;
//! - `heartbeat_ms` is less than half of `election_timeout_ms` (several heartbeats fit in
//!   one election timeout).
//!
//! Bounds: `heartbeat_ms` 1 to [`MAX_HEARTBEAT_MS`], `election_timeout_ms`
//! [`MIN_ELECTION_TIMEOUT_MS`] to [`MAX_ELECTION_TIMEOUT_MS`]; addresses are `HOST:PORT`
//! ([`check_addr`]), bootstrap entries `ID@HOST:PORT` ([`Member`]) with no id or address
//! twice.

mod keys;
mod member;

use std::fmt;
use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use nyro_core::config::{RuleError, Schema};

pub use self::keys::cluster_keys;
pub use self::member::{AddrError, Member, MemberError, check_addr};
use crate::NodeId;

/// Most `cluster.heartbeat_ms`: one minute.
pub const MAX_HEARTBEAT_MS: u64 = 60_000;
/// Least `cluster.snapshot_every`.
pub const MIN_SNAPSHOT_EVERY: u64 = 2;

/// Least `cluster.election_timeout_ms`.
pub const MIN_ELECTION_TIMEOUT_MS: u64 = 10;
/// Most `cluster.election_timeout_ms`: five minutes.
pub const MAX_ELECTION_TIMEOUT_MS: u64 = 300_000;

/// `[cluster]`. [`ClusterSettings::default`] is what a file without it gives: a standalone
/// server. Its `Debug` output never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// This node's id, 1 or more; 0 (the default) runs a standalone server.
    pub node_id: NodeId,
    /// Where other nodes and clients reach this node (`HOST:PORT`); `None` (written `""`,
    /// the default) means `server.listen` ([`ClusterSettings::advertise_addr`]).
    pub advertise: Option<String>,
    /// The initial voters, identical on each of them; used only while the data directory is
    /// empty. Empty (the default): this node waits to be added. No id or address repeats.
    pub bootstrap: Vec<Member>,
    /// Shared by every node; node-to-node calls carry it. Required in a cluster.
    pub secret: String,
    /// How often the leader sends heartbeats, in milliseconds (default 100).
    pub heartbeat_ms: u64,
    /// The election timeout, in milliseconds (default 1000); randomized between this and
    /// twice this.
    pub election_timeout_ms: u64,
    /// Raft entries between snapshots (default 10000).
    pub snapshot_every: u64,
}

static SCHEMA: LazyLock<Schema<ClusterSettings>> = LazyLock::new(|| Schema::new(cluster_keys()));

impl Default for ClusterSettings {
    /// What a file without `[cluster]` gives: every key at its default from the key table.
    fn default() -> Self {
        let mut settings = ClusterSettings {
            // Placeholders, each overwritten by its key's default.
            node_id: 0,
            advertise: None,
            bootstrap: Vec::new(),
            secret: String::new(),
            heartbeat_ms: 0,
            election_timeout_ms: 0,
            snapshot_every: 0,
        };
        SCHEMA.apply_defaults(&mut settings);
        settings
    }
}

impl AsRef<ClusterSettings> for ClusterSettings {
    fn as_ref(&self) -> &ClusterSettings {
        self
    }
}

impl AsMut<ClusterSettings> for ClusterSettings {
    fn as_mut(&mut self) -> &mut ClusterSettings {
        self
    }
}

impl fmt::Debug for ClusterSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = if self.secret.is_empty() {
            ""
        } else {
            "<redacted>"
        };
        f.debug_struct("ClusterSettings")
            .field("node_id", &self.node_id)
            .field("advertise", &self.advertise)
            .field("bootstrap", &self.bootstrap)
            .field("secret", &secret)
            .field("heartbeat_ms", &self.heartbeat_ms)
            .field("election_timeout_ms", &self.election_timeout_ms)
            .field("snapshot_every", &self.snapshot_every)
            .finish()
    }
}

fn rule_error(key: &str, message: String) -> Result<(), RuleError> {
    Err(RuleError {
        key: format!("cluster.{key}"),
        message,
    })
}

impl ClusterSettings {
    /// Whether this node is in a cluster (`node_id` is 1 or more).
    pub fn is_cluster(&self) -> bool {
        self.node_id >= 1
    }

    /// Where other nodes and clients reach this node: `advertise`, or else `listen` (the
    /// server's `server.listen`).
    pub fn advertise_addr(&self, listen: SocketAddr) -> String {
        self.advertise.clone().unwrap_or_else(|| listen.to_string())
    }

    /// This node's entry in `bootstrap`, if it is listed.
    pub fn bootstrap_member(&self) -> Option<&Member> {
        self.bootstrap.iter().find(|m| m.id == self.node_id)
    }

    /// `heartbeat_ms` as a [`Duration`].
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms)
    }

    /// `election_timeout_ms` as a [`Duration`].
    pub fn election_timeout(&self) -> Duration {
        Duration::from_millis(self.election_timeout_ms)
    }

    /// The checks that relate keys (module docs), given the server's `server.listen` (the
    /// default of `advertise`). Run once the file, the environment and the flags are all
    /// applied; nyro-server's schema runs it in `validate`.
    pub fn check(&self, listen: SocketAddr) -> Result<(), RuleError> {
        if self.heartbeat_ms.saturating_mul(2) >= self.election_timeout_ms {
            return rule_error(
                "heartbeat_ms",
                format!(
                    "{} ms is not less than half of cluster.election_timeout_ms ({} ms): a \
                     leader must send several heartbeats within one election timeout; lower \
                     heartbeat_ms or raise election_timeout_ms",
                    self.heartbeat_ms, self.election_timeout_ms
                ),
            );
        }
        if !self.is_cluster() {
            if !self.bootstrap.is_empty() {
                return rule_error(
                    "node_id",
                    format!(
                        "is 0 (standalone), but cluster.bootstrap lists {} nodes; set node_id \
                         to this node's id from that list (or NYRODB_CLUSTER_NODE_ID, or \
                         --node-id), or empty bootstrap to run standalone",
                        self.bootstrap.len()
                    ),
                );
            }
            return Ok(());
        }
        if self.secret.is_empty() {
            return rule_error(
                "secret",
                format!(
                    "is required when cluster.node_id is set (it is {}): set the same secret on \
                     every node, preferably through NYRODB_CLUSTER_SECRET",
                    self.node_id
                ),
            );
        }
        if self.bootstrap.is_empty() {
            return Ok(());
        }
        let Some(me) = self.bootstrap_member() else {
            let listed: Vec<String> = self.bootstrap.iter().map(|m| m.id.to_string()).collect();
            return rule_error(
                "bootstrap",
                format!(
                    "does not list this node (cluster.node_id = {}; it lists {}): list every \
                     initial voter, this node included, identically on each of them, or leave \
                     it empty on a node that waits to be added",
                    self.node_id,
                    listed.join(", ")
                ),
            );
        };
        let advertised = self.advertise_addr(listen);
        if me.addr != advertised {
            let from = if self.advertise.is_some() {
                "cluster.advertise"
            } else {
                "server.listen, as cluster.advertise is not set"
            };
            return rule_error(
                "advertise",
                format!(
                    "this node is `{me}` in cluster.bootstrap but advertises `{advertised}` (from \
                     {from}); other nodes reach it at its bootstrap address, so set advertise \
                     = \"{}\" (or correct bootstrap)",
                    me.addr
                ),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const LISTEN: &str = "127.0.0.1:7070";

    fn listen() -> SocketAddr {
        LISTEN.parse().unwrap()
    }

    fn cluster(node_id: NodeId, bootstrap: &str) -> ClusterSettings {
        let mut c = ClusterSettings {
            node_id,
            secret: "s".to_owned(),
            ..ClusterSettings::default()
        };
        c.bootstrap = member::parse_bootstrap(bootstrap).unwrap();
        c
    }

    /// Asserts `c` fails its check blaming `key`, and returns the message.
    fn blamed(c: &ClusterSettings, key: &str) -> String {
        let err = c.check(listen()).unwrap_err();
        assert_eq!(err.key, key, "{err:?}");
        err.message
    }

    #[test]
    fn defaults_are_standalone_and_the_contract_values() {
        let c = ClusterSettings::default();
        assert!(!c.is_cluster());
        assert_eq!(c.node_id, 0);
        assert_eq!(c.advertise, None);
        assert!(c.bootstrap.is_empty());
        assert_eq!(c.secret, "");
        assert_eq!(c.heartbeat(), Duration::from_millis(100));
        assert_eq!(c.election_timeout(), Duration::from_millis(1000));
        assert_eq!(c.check(listen()), Ok(()));
        assert_eq!(c.advertise_addr(listen()), LISTEN);
    }

    #[test]
    fn a_cluster_node_needs_a_secret() {
        let mut c = cluster(1, "");
        assert_eq!(c.check(listen()), Ok(()));
        c.secret.clear();
        let message = blamed(&c, "cluster.secret");
        assert!(message.contains("NYRODB_CLUSTER_SECRET"), "{message}");
        // A standalone node may carry one (a shared environment, say).
        c.node_id = 0;
        c.secret = "s".to_owned();
        assert_eq!(c.check(listen()), Ok(()));
    }

    #[test]
    fn bootstrap_must_list_this_node_at_its_advertised_address() {
        let three = "1@127.0.0.1:7070,2@127.0.0.1:7071,3@127.0.0.1:7072";
        assert_eq!(cluster(1, three).check(listen()), Ok(()));
        let message = blamed(&cluster(4, three), "cluster.bootstrap");
        assert!(message.contains("node_id = 4"), "{message}");
        assert!(message.contains("1, 2, 3"), "{message}");

        // Node 2 listed at :7071 but listening on :7070 without advertise.
        let message = blamed(&cluster(2, three), "cluster.advertise");
        assert!(message.contains("`2@127.0.0.1:7071`"), "{message}");
        assert!(message.contains("server.listen"), "{message}");
        assert!(
            message.contains("advertise = \"127.0.0.1:7071\""),
            "{message}"
        );
        let mut c = cluster(2, three);
        c.advertise = Some("127.0.0.1:7071".to_owned());
        assert_eq!(c.check(listen()), Ok(()));
        c.advertise = Some("db2:7071".to_owned());
        let message = blamed(&c, "cluster.advertise");
        assert!(message.contains("from cluster.advertise"), "{message}");
    }

    #[test]
    fn standalone_with_a_bootstrap_list_is_refused() {
        let message = blamed(&cluster(0, "1@127.0.0.1:7070"), "cluster.node_id");
        assert!(message.contains("--node-id"), "{message}");
    }

    #[test]
    fn heartbeat_is_less_than_half_the_election_timeout() {
        let mut c = ClusterSettings::default();
        for (heartbeat, election, ok) in [
            (100, 1000, true),
            (499, 1000, true),
            (500, 1000, false),
            (1000, 1000, false),
            (4, 10, true),
            (5, 10, false),
            (MAX_HEARTBEAT_MS, u64::MAX, true),
        ] {
            c.heartbeat_ms = heartbeat;
            c.election_timeout_ms = election;
            assert_eq!(c.check(listen()).is_ok(), ok, "{heartbeat} {election}");
        }
        c.heartbeat_ms = 600;
        c.election_timeout_ms = 1000;
        let message = blamed(&c, "cluster.heartbeat_ms");
        assert!(
            message.contains("600 ms") && message.contains("1000 ms"),
            "{message}"
        );
    }

    #[test]
    fn every_accepted_timing_is_accepted_by_openraft() {
        // heartbeat_interval = heartbeat_ms, election timeout between election_timeout_ms and
        // twice that (contract section 7): openraft refuses a minimum not above the heartbeat.
        for (heartbeat, election) in [
            (1, MIN_ELECTION_TIMEOUT_MS),
            (4, MIN_ELECTION_TIMEOUT_MS),
            (100, 1000),
            (MAX_HEARTBEAT_MS, MAX_ELECTION_TIMEOUT_MS),
            (1, MAX_ELECTION_TIMEOUT_MS),
        ] {
            let c = ClusterSettings {
                heartbeat_ms: heartbeat,
                election_timeout_ms: election,
                ..ClusterSettings::default()
            };
            assert_eq!(c.check(listen()), Ok(()), "{heartbeat} {election}");
            let raft = openraft::Config {
                heartbeat_interval: c.heartbeat_ms,
                election_timeout_min: c.election_timeout_ms,
                election_timeout_max: c.election_timeout_ms * 2,
                ..openraft::Config::default()
            };
            assert!(raft.validate().is_ok(), "{heartbeat} {election}");
        }
    }

    #[test]
    fn debug_redacts_the_secret() {
        let c = cluster(1, "");
        let debug = format!("{c:?}");
        assert!(
            debug.contains("<redacted>") && !debug.contains("\"s\""),
            "{debug}"
        );
    }

    #[test]
    fn key_defaults_pass_their_checks_and_show_as_written() {
        assert_eq!(SCHEMA.check_defaults(), Ok(()));
        let paths = SCHEMA.paths();
        assert_eq!(
            paths,
            [
                "cluster.node_id",
                "cluster.advertise",
                "cluster.bootstrap",
                "cluster.secret",
                "cluster.heartbeat_ms",
                "cluster.election_timeout_ms",
                "cluster.snapshot_every",
            ]
        );
    }
}
