//! The `nyrodb_raft_*` series of a cluster node's `/metrics` (a standalone server has none).
//!
//! The node's state is a Prometheus "state set": `nyrodb_raft_role{role}` has one series
//! per state, 1 for the one the node is in and 0 for the others, so that a query never
//! sees a series vanish when the state changes. The leader id is 0 while none is known
//! (node ids start at 1). The quorum acknowledgement age and the replication lag per
//! follower exist only on the leader.

use std::fmt::Write;

use nyro_raft::{RaftFigures, RaftState};

use super::gauge;

/// Appends the `nyrodb_raft_*` series of `figures` to `out`.
pub(super) fn render(out: &mut String, figures: &RaftFigures) {
    gauge(
        out,
        "nyrodb_raft_term",
        "gauge",
        "This node's current Raft term.",
        figures.term,
    );
    let _ = writeln!(
        out,
        "# HELP nyrodb_raft_role 1 for the Raft state this node is in, 0 for the others.\n\
         # TYPE nyrodb_raft_role gauge"
    );
    for state in RaftState::ALL {
        let _ = writeln!(
            out,
            "nyrodb_raft_role{{role=\"{}\"}} {}",
            state.as_str(),
            u8::from(state == figures.state)
        );
    }
    gauge(
        out,
        "nyrodb_raft_is_leader",
        "gauge",
        "1 if this node is the leader.",
        u8::from(figures.state == RaftState::Leader),
    );
    gauge(
        out,
        "nyrodb_raft_leader_id",
        "gauge",
        "The leader this node knows of; 0 while none is known.",
        figures.leader_id.unwrap_or(0),
    );
    gauge(
        out,
        "nyrodb_raft_commit_index",
        "gauge",
        "Highest Raft log index known to be committed.",
        figures.commit_index,
    );
    gauge(
        out,
        "nyrodb_raft_applied_index",
        "gauge",
        "Highest Raft log index applied on this node.",
        figures.applied_index,
    );
    gauge(
        out,
        "nyrodb_raft_last_log_index",
        "gauge",
        "Index of the last entry in this node's Raft log.",
        figures.last_log_index,
    );
    gauge(
        out,
        "nyrodb_raft_members",
        "gauge",
        "Cluster members (voters and learners).",
        figures.members,
    );
    gauge(
        out,
        "nyrodb_raft_voters",
        "gauge",
        "Voting cluster members.",
        figures.voters,
    );
    if let Some(millis) = figures.millis_since_quorum_ack {
        gauge(
            out,
            "nyrodb_raft_quorum_ack_age_seconds",
            "gauge",
            "Leader only: seconds since a quorum last acknowledged this leader.",
            millis as f64 / 1000.0,
        );
    }
    if !figures.matched.is_empty() {
        let _ = writeln!(
            out,
            "# HELP nyrodb_raft_replication_lag Leader only: log entries a member lacks \
             (the leader's last log index minus the member's matched index).\n\
             # TYPE nyrodb_raft_replication_lag gauge"
        );
        for (follower, matched) in &figures.matched {
            let lag = figures.last_log_index.saturating_sub(*matched);
            let _ = writeln!(
                out,
                "nyrodb_raft_replication_lag{{follower=\"{follower}\"}} {lag}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn leader() -> RaftFigures {
        RaftFigures {
            term: 4,
            state: RaftState::Leader,
            leader_id: Some(1),
            commit_index: 118,
            applied_index: 117,
            last_log_index: 120,
            members: 4,
            voters: 3,
            millis_since_quorum_ack: Some(35),
            matched: BTreeMap::from([(2, 120), (3, 101), (4, 0)]),
        }
    }

    fn rendered(figures: &RaftFigures) -> String {
        let mut out = String::new();
        render(&mut out, figures);
        out
    }

    /// The value of the sample line `series` (name and labels), if it is there.
    fn value(text: &str, series: &str) -> Option<String> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(str::to_string)
    }

    #[test]
    fn a_leader_has_every_series_with_lag_per_member() {
        let text = rendered(&leader());
        for (series, expected) in [
            ("nyrodb_raft_term", "4"),
            ("nyrodb_raft_role{role=\"leader\"}", "1"),
            ("nyrodb_raft_role{role=\"candidate\"}", "0"),
            ("nyrodb_raft_role{role=\"follower\"}", "0"),
            ("nyrodb_raft_role{role=\"learner\"}", "0"),
            ("nyrodb_raft_role{role=\"shutdown\"}", "0"),
            ("nyrodb_raft_is_leader", "1"),
            ("nyrodb_raft_leader_id", "1"),
            ("nyrodb_raft_commit_index", "118"),
            ("nyrodb_raft_applied_index", "117"),
            ("nyrodb_raft_last_log_index", "120"),
            ("nyrodb_raft_members", "4"),
            ("nyrodb_raft_voters", "3"),
            ("nyrodb_raft_quorum_ack_age_seconds", "0.035"),
            ("nyrodb_raft_replication_lag{follower=\"2\"}", "0"),
            ("nyrodb_raft_replication_lag{follower=\"3\"}", "19"),
            ("nyrodb_raft_replication_lag{follower=\"4\"}", "120"),
        ] {
            assert_eq!(
                value(&text, series).as_deref(),
                Some(expected),
                "{series} in:\n{text}"
            );
        }
    }

    #[test]
    fn every_series_has_help_and_type_once() {
        let text = rendered(&leader());
        let names: std::collections::BTreeSet<&str> = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .map(|line| line.split(['{', ' ']).next().unwrap_or(line))
            .collect();
        assert_eq!(names.len(), 11, "{text}");
        for name in names {
            for tag in ["HELP", "TYPE"] {
                let header = format!("# {tag} {name} ");
                assert_eq!(
                    text.lines().filter(|l| l.starts_with(&header)).count(),
                    1,
                    "{header} in:\n{text}"
                );
            }
        }
    }

    #[test]
    fn a_follower_without_a_leader_has_no_leader_only_series() {
        let figures = RaftFigures {
            state: RaftState::Candidate,
            leader_id: None,
            millis_since_quorum_ack: None,
            matched: BTreeMap::new(),
            ..leader()
        };
        let text = rendered(&figures);
        assert_eq!(value(&text, "nyrodb_raft_is_leader").as_deref(), Some("0"));
        assert_eq!(value(&text, "nyrodb_raft_leader_id").as_deref(), Some("0"));
        assert_eq!(
            value(&text, "nyrodb_raft_role{role=\"candidate\"}").as_deref(),
            Some("1")
        );
        assert_eq!(
            value(&text, "nyrodb_raft_role{role=\"leader\"}").as_deref(),
            Some("0")
        );
        assert!(
            !text.contains("nyrodb_raft_quorum_ack_age_seconds"),
            "{text}"
        );
        assert!(!text.contains("nyrodb_raft_replication_lag"), "{text}");
    }
}
