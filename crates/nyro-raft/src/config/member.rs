//! A cluster member as the config and the membership routes name it: an id and the
//! `HOST:PORT` where it is reached, written `ID@HOST:PORT` in `cluster.bootstrap`.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::NodeId;

/// One node of the cluster: its id (1 or more) and address (`HOST:PORT`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Member {
    /// The node's `cluster.node_id`.
    pub id: NodeId,
    /// Where other nodes and clients reach it, `HOST:PORT` (its `cluster.advertise`).
    pub addr: String,
}

impl fmt::Display for Member {
    /// `ID@HOST:PORT`, as `cluster.bootstrap` writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.id, self.addr)
    }
}

/// An address is not `HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{addr}` is not HOST:PORT (e.g. \"10.0.0.1:7070\", \"db1.example.com:7070\", \"[::1]:7070\"): {reason}"
)]
pub struct AddrError {
    /// The address as given.
    pub addr: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// An `ID@HOST:PORT` entry cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemberError {
    /// No `@` separates the id from the address.
    #[error("`{entry}` is not ID@HOST:PORT (e.g. \"1@10.0.0.1:7070\")")]
    Syntax {
        /// The entry as given.
        entry: String,
    },
    /// The id is not a whole number, or is 0.
    #[error("`{entry}`: the ID before '@' must be a whole number, 1 or more")]
    Id {
        /// The entry as given.
        entry: String,
    },
    /// The address is not `HOST:PORT`.
    #[error("`{entry}`: {source}")]
    Addr {
        /// The entry as given.
        entry: String,
        /// What is wrong with its address.
        source: AddrError,
    },
}

/// Checks that `addr` is `HOST:PORT`: a host name (letters, digits, `-`, `.`, `_`), an IPv4
/// address or a bracketed IPv6 address, and a port from 1 to 65535. Names are not resolved.
pub fn check_addr(addr: &str) -> Result<(), AddrError> {
    let fail = |reason| {
        Err(AddrError {
            addr: addr.to_owned(),
            reason,
        })
    };
    if addr.contains("://") {
        return fail("write it without a scheme such as http://");
    }
    let Some((host, port)) = addr.rsplit_once(':') else {
        return fail("it has no port");
    };
    if !matches!(port.parse::<u16>(), Ok(1..)) {
        return fail("the port must be a number from 1 to 65535");
    }
    if host.is_empty() {
        return fail("it has no host");
    }
    if let Some(inner) = host.strip_prefix('[') {
        let ipv6 = inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<Ipv6Addr>().is_ok());
        return if ipv6 {
            Ok(())
        } else {
            fail("the host in brackets must be an IPv6 address")
        };
    }
    if host.contains(':') {
        return fail("an IPv6 address goes in brackets, e.g. [::1]:7070");
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return fail("the host may hold only letters, digits, '-', '.' and '_'");
    }
    Ok(())
}

impl FromStr for Member {
    type Err = MemberError;

    /// Reads `ID@HOST:PORT` (surrounding spaces are ignored).
    fn from_str(entry: &str) -> Result<Self, Self::Err> {
        let trimmed = entry.trim();
        let Some((id, addr)) = trimmed.split_once('@') else {
            return Err(MemberError::Syntax {
                entry: entry.to_owned(),
            });
        };
        let id = match id.parse::<NodeId>() {
            Ok(id) if id >= 1 => id,
            _ => {
                return Err(MemberError::Id {
                    entry: entry.to_owned(),
                });
            }
        };
        check_addr(addr).map_err(|source| MemberError::Addr {
            entry: entry.to_owned(),
            source,
        })?;
        Ok(Member {
            id,
            addr: addr.to_owned(),
        })
    }
}

/// The first problem of a member list: an id or an address listed twice.
pub(crate) fn check_unique(members: &[Member]) -> Result<(), String> {
    for (i, m) in members.iter().enumerate() {
        if let Some(j) = members[..i].iter().position(|o| o.id == m.id) {
            return Err(format!(
                "bootstrap[{i}] `{m}` has the id of bootstrap[{j}] `{}`; each node has its own id",
                members[j]
            ));
        }
        if let Some(j) = members[..i].iter().position(|o| o.addr == m.addr) {
            return Err(format!(
                "bootstrap[{i}] `{m}` has the address of bootstrap[{j}] `{}`; each node has its \
                 own address",
                members[j]
            ));
        }
    }
    Ok(())
}

/// Reads `cluster.bootstrap` as its setter receives it (comma-separated `ID@HOST:PORT`;
/// empty: no member) and checks that no id or address repeats. Errors name the element.
pub(crate) fn parse_bootstrap(raw: &str) -> Result<Vec<Member>, String> {
    let members = nyro_core::config::split_list(raw)
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            if entry.is_empty() {
                return Err(format!("bootstrap[{i}] is empty"));
            }
            entry
                .parse::<Member>()
                .map_err(|e| format!("bootstrap[{i}] {e}"))
        })
        .collect::<Result<Vec<Member>, String>>()?;
    check_unique(&members)?;
    Ok(members)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn addresses_are_host_and_port() {
        for good in [
            "127.0.0.1:7070",
            "db1.example.com:1",
            "node_2:65535",
            "[::1]:7070",
            "[fe80::1]:80",
            "localhost:7070",
        ] {
            assert_eq!(check_addr(good), Ok(()), "{good}");
        }
        for (bad, reason) in [
            ("127.0.0.1", "no port"),
            ("127.0.0.1:", "port"),
            ("127.0.0.1:0", "port"),
            ("127.0.0.1:65536", "port"),
            ("127.0.0.1:x", "port"),
            (":7070", "no host"),
            ("::1:7070", "brackets"),
            ("[::1:7070", "brackets"),
            ("[nope]:7070", "IPv6"),
            ("http://a:7070", "scheme"),
            ("a b:7070", "letters"),
            ("a/b:7070", "letters"),
            ("", "no port"),
        ] {
            let err = check_addr(bad).unwrap_err();
            assert!(err.to_string().contains(reason), "{bad}: {err}");
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn members_parse_and_print_as_id_at_addr() {
        let m: Member = " 2@10.0.0.2:7071 ".parse().unwrap();
        assert_eq!(
            m,
            Member {
                id: 2,
                addr: "10.0.0.2:7071".to_owned()
            }
        );
        assert_eq!(m.to_string(), "2@10.0.0.2:7071");
        assert!(matches!(
            "10.0.0.2:7071".parse::<Member>(),
            Err(MemberError::Syntax { .. })
        ));
        for bad_id in ["0@a:1", "-1@a:1", "x@a:1", "@a:1", "1.5@a:1"] {
            assert!(
                matches!(bad_id.parse::<Member>(), Err(MemberError::Id { .. })),
                "{bad_id}"
            );
        }
        let err = "3@a".parse::<Member>().unwrap_err();
        assert!(matches!(err, MemberError::Addr { .. }), "{err:?}");
        assert!(err.to_string().contains("`3@a`"), "{err}");
        assert!(err.to_string().contains("no port"), "{err}");
    }

    #[test]
    fn bootstrap_lists_parse_with_unique_ids_and_addresses() {
        assert_eq!(parse_bootstrap(""), Ok(Vec::new()));
        let members = parse_bootstrap("1@a:1, 2@b:1,3@a:2").unwrap();
        let ids: Vec<NodeId> = members.iter().map(|m| m.id).collect();
        assert_eq!(ids, [1, 2, 3]);
        for (raw, needle) in [
            (
                "1@a:1,1@b:1",
                "bootstrap[1] `1@b:1` has the id of bootstrap[0]",
            ),
            (
                "1@a:1,2@a:1",
                "bootstrap[1] `2@a:1` has the address of bootstrap[0]",
            ),
            ("1@a:1,,2@b:1", "bootstrap[1] is empty"),
            ("1@a:1,2@b", "bootstrap[1] `2@b`"),
            ("0@a:1", "bootstrap[0] `0@a:1`: the ID"),
        ] {
            let err = parse_bootstrap(raw).unwrap_err();
            assert!(err.contains(needle), "{raw}: {err}");
        }
    }
}
