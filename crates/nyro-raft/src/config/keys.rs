//! The keys of `[cluster]`, each described once (section, name, type, doc, what is allowed,
//! setter, range check, how it is shown), for any settings type that holds a
//! [`ClusterSettings`]. nyro-server adds them to the database's and the server's keys.

use nyro_core::config::{Key, Ty, is_header_safe, parse_number, toml_string, toml_string_list};

use super::member::{check_addr, check_unique, parse_bootstrap};
use super::{
    ClusterSettings, MAX_ELECTION_TIMEOUT_MS, MAX_HEARTBEAT_MS, MIN_ELECTION_TIMEOUT_MS,
    MIN_SNAPSHOT_EVERY,
};

/// The keys of `[cluster]`, in the order of the shipped `nyrodb.toml`.
pub fn cluster_keys<C: AsRef<ClusterSettings> + AsMut<ClusterSettings>>() -> Vec<Key<C>> {
    vec![
        Key {
            section: "cluster",
            name: "node_id",
            default: "0",
            ty: Ty::Integer,
            doc: "This node's id in a cluster: 1 or more, unique among the nodes. 0 runs a standalone\n\
                  server, as does a file without [cluster].",
            allowed: "a whole number: 0 (standalone) or this node's id, 1 or more".to_owned(),
            secret: false,
            set: |c, raw| {
                c.as_mut().node_id = parse_number(raw)?;
                Ok(())
            },
            check: |_| true,
            show: |c| c.as_ref().node_id.to_string(),
        },
        Key {
            section: "cluster",
            name: "advertise",
            default: "",
            ty: Ty::String,
            doc: "Where other nodes and clients reach this node, HOST:PORT; empty: server.listen.\n\
                  Set it when server.listen is 0.0.0.0 or behind NAT.",
            allowed: "HOST:PORT, e.g. \"10.0.0.1:7070\" or \"db1.example.com:7070\"; empty means \
                      server.listen"
                .to_owned(),
            secret: false,
            set: |c, raw| {
                let raw = raw.trim();
                if !raw.is_empty() {
                    check_addr(raw).map_err(|e| e.to_string())?;
                }
                c.as_mut().advertise = (!raw.is_empty()).then(|| raw.to_owned());
                Ok(())
            },
            check: |c| {
                c.as_ref()
                    .advertise
                    .as_deref()
                    .is_none_or(|a| check_addr(a).is_ok())
            },
            show: |c| toml_string(c.as_ref().advertise.as_deref().unwrap_or_default()),
        },
        Key {
            section: "cluster",
            name: "bootstrap",
            default: "",
            ty: Ty::StringList,
            doc: "The initial voters, \"ID@HOST:PORT\" each, this node included, identical on each of\n\
                  them; used only while the data directory is empty. Empty: this node waits to be\n\
                  added (nyrodb cluster add). In NYRODB_CLUSTER_BOOTSTRAP: comma-separated.",
            allowed: "an array of \"ID@HOST:PORT\" strings, e.g. [\"1@10.0.0.1:7070\", \
                      \"2@10.0.0.2:7070\", \"3@10.0.0.3:7070\"], each id (1 or more) and each \
                      address listed once; from the environment or a flag, comma-separated"
                .to_owned(),
            secret: false,
            set: |c, raw| {
                c.as_mut().bootstrap = parse_bootstrap(raw)?;
                Ok(())
            },
            check: |c| {
                let members = &c.as_ref().bootstrap;
                check_unique(members).is_ok()
                    && members
                        .iter()
                        .all(|m| m.id >= 1 && check_addr(&m.addr).is_ok())
            },
            show: |c| toml_string_list(c.as_ref().bootstrap.iter().map(ToString::to_string)),
        },
        Key {
            section: "cluster",
            name: "secret",
            default: "",
            ty: Ty::String,
            doc: "Shared by every node of the cluster; node-to-node calls carry it, and a call without\n\
                  it is refused. Required when node_id is 1 or more.\n\
                  Better set through the environment: NYRODB_CLUSTER_SECRET.",
            allowed: "a string of printable ASCII characters without leading or trailing spaces, \
                      the same on every node; required when cluster.node_id is 1 or more"
                .to_owned(),
            secret: true,
            set: |c, raw| {
                c.as_mut().secret = raw.to_owned();
                Ok(())
            },
            check: |c| is_header_safe(&c.as_ref().secret),
            show: |c| toml_string(&c.as_ref().secret),
        },
        Key {
            section: "cluster",
            name: "heartbeat_ms",
            default: "100",
            ty: Ty::Integer,
            doc: "How often the leader sends heartbeats, in milliseconds; less than half of\n\
                  election_timeout_ms.",
            allowed: format!(
                "a whole number of milliseconds from 1 to {MAX_HEARTBEAT_MS}, less than half \
                 of cluster.election_timeout_ms"
            ),
            secret: false,
            set: |c, raw| {
                c.as_mut().heartbeat_ms = parse_number(raw)?;
                Ok(())
            },
            check: |c| (1..=MAX_HEARTBEAT_MS).contains(&c.as_ref().heartbeat_ms),
            show: |c| c.as_ref().heartbeat_ms.to_string(),
        },
        Key {
            section: "cluster",
            name: "election_timeout_ms",
            default: "1000",
            ty: Ty::Integer,
            doc: "A follower that hears from no leader for this long (randomized between this and\n\
                  twice this), in milliseconds, starts an election. Without a leader or a quorum,\n\
                  a write gets 503 within twice this.",
            allowed: format!(
                "a whole number of milliseconds from {MIN_ELECTION_TIMEOUT_MS} to \
                 {MAX_ELECTION_TIMEOUT_MS}, more than twice cluster.heartbeat_ms"
            ),
            secret: false,
            set: |c, raw| {
                c.as_mut().election_timeout_ms = parse_number(raw)?;
                Ok(())
            },
            check: |c| {
                (MIN_ELECTION_TIMEOUT_MS..=MAX_ELECTION_TIMEOUT_MS)
                    .contains(&c.as_ref().election_timeout_ms)
            },
            show: |c| c.as_ref().election_timeout_ms.to_string(),
        },
        Key {
            section: "cluster",
            name: "snapshot_every",
            default: "10000",
            ty: Ty::Integer,
            doc: "A snapshot of the state is taken after this many Raft entries since the last one;\n\
                  the log up to half as many entries before it is then no longer kept for\n\
                  followers (one far behind catches up from the snapshot).",
            allowed: format!("a whole number of entries from {MIN_SNAPSHOT_EVERY} up"),
            secret: false,
            set: |c, raw| {
                c.as_mut().snapshot_every = parse_number(raw)?;
                Ok(())
            },
            check: |c| c.as_ref().snapshot_every >= MIN_SNAPSHOT_EVERY,
            show: |c| c.as_ref().snapshot_every.to_string(),
        },
    ]
}
