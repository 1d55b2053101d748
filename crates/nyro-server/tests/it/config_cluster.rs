//! `[cluster]` of `nyrodb.toml` (CONTRACT.md section 7) through the whole file's key table:
//! every key read from the file, the environment and flags; each key's own check while it is
//! read; the checks that relate keys in `validate`, naming the key and the source.

use nyro_core::config::ConfigError;
use nyro_raft::{ClusterSettings, Member};
use nyro_server::ServerConfig;

const FILE: &str = "node.toml";

fn parse(text: &str) -> Result<ServerConfig, ConfigError> {
    ServerConfig::schema().parse(text, FILE)
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn member(id: u64, addr: &str) -> Member {
    Member {
        id,
        addr: addr.to_owned(),
    }
}

/// Asserts that `text` parses but `validate` refuses it, blaming `key` and naming the file;
/// returns the message.
fn invalid(text: &str, key: &str) -> String {
    let config = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    let err = ServerConfig::schema()
        .validate(&config, FILE)
        .expect_err(text);
    match &err {
        ConfigError::Invalid {
            source_name,
            key: k,
            ..
        } => assert_eq!((source_name.as_str(), k.as_str()), (FILE, key), "{err}"),
        other => panic!("{text:?}: {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains(&format!("`{key}`")), "{message}");
    assert!(message.contains(FILE), "{message}");
    message
}

/// Asserts that reading `text` fails on `key` (its own check), naming the file and line.
fn refused(text: &str, key: &str) -> String {
    let err = parse(text).expect_err(text);
    let message = err.to_string();
    assert!(message.contains(&format!("`{key}`")), "{text:?}: {message}");
    assert!(message.contains(FILE), "{text:?}: {message}");
    assert!(message.contains("line "), "{text:?}: {message}");
    message
}

const THREE: &str = r#"["1@127.0.0.1:7070", "2@127.0.0.1:7071", "3@127.0.0.1:7072"]"#;

#[test]
fn no_cluster_section_is_standalone() {
    let c = parse("").unwrap();
    assert_eq!(c.cluster, ClusterSettings::default());
    assert!(!c.cluster.is_cluster());
    assert_eq!(c.advertise(), "127.0.0.1:7070");
    ServerConfig::schema().validate(&c, FILE).unwrap();
    assert_eq!(parse("[cluster]\nnode_id = 0\n").unwrap(), c);
    assert_eq!(parse("[cluster]\n").unwrap(), c);
}

#[test]
fn every_cluster_key_is_read() {
    let text = format!(
        r#"
[server]
listen = "0.0.0.0:7071"

[cluster]
node_id = 2
advertise = "127.0.0.1:7071"
bootstrap = {THREE}
secret = "shared s3cret"
heartbeat_ms = 50
election_timeout_ms = 500
"#
    );
    let c = parse(&text).unwrap();
    ServerConfig::schema().validate(&c, FILE).unwrap();
    assert!(c.cluster.is_cluster());
    assert_eq!(c.cluster.node_id, 2);
    assert_eq!(c.cluster.advertise.as_deref(), Some("127.0.0.1:7071"));
    assert_eq!(c.advertise(), "127.0.0.1:7071");
    assert_eq!(
        c.cluster.bootstrap,
        [
            member(1, "127.0.0.1:7070"),
            member(2, "127.0.0.1:7071"),
            member(3, "127.0.0.1:7072")
        ]
    );
    assert_eq!(
        c.cluster.bootstrap_member(),
        Some(&member(2, "127.0.0.1:7071"))
    );
    assert_eq!(c.cluster.secret, "shared s3cret");
    assert_eq!(c.cluster.heartbeat_ms, 50);
    assert_eq!(c.cluster.election_timeout_ms, 500);
    // The rendered file reads back as the same settings.
    assert_eq!(ServerConfig::schema().parse(&c.render(), "r").unwrap(), c);
}

#[test]
fn the_contract_example_is_valid_on_node_1() {
    let text = format!(
        "[cluster]\nnode_id = 1\nadvertise = \"127.0.0.1:7070\"\nbootstrap = {THREE}\nsecret = \
         \"x\"\nheartbeat_ms = 100\nelection_timeout_ms = 1000\n"
    );
    let c = parse(&text).unwrap();
    ServerConfig::schema().validate(&c, FILE).unwrap();
}

#[test]
fn env_overrides_the_cluster_keys() {
    let mut c = parse("[cluster]\nnode_id = 9\n").unwrap();
    ServerConfig::schema()
        .apply_env(
            &mut c,
            vars(&[
                ("NYRODB_CLUSTER_NODE_ID", "3"),
                ("NYRODB_CLUSTER_ADVERTISE", "db3.internal:7070"),
                (
                    "NYRODB_CLUSTER_BOOTSTRAP",
                    "1@db1.internal:7070, 2@db2.internal:7070,3@db3.internal:7070",
                ),
                ("NYRODB_CLUSTER_SECRET", "from-env"),
                ("NYRODB_CLUSTER_HEARTBEAT_MS", "20"),
                ("NYRODB_CLUSTER_ELECTION_TIMEOUT_MS", "200"),
            ]),
        )
        .unwrap();
    ServerConfig::schema().validate(&c, "env").unwrap();
    assert_eq!(c.cluster.node_id, 3);
    assert_eq!(c.advertise(), "db3.internal:7070");
    assert_eq!(c.cluster.bootstrap.len(), 3);
    assert_eq!(c.cluster.bootstrap[2], member(3, "db3.internal:7070"));
    assert_eq!(c.cluster.secret, "from-env");
    assert_eq!(
        (c.cluster.heartbeat_ms, c.cluster.election_timeout_ms),
        (20, 200)
    );

    // Empty values go back to the defaults' meaning.
    ServerConfig::schema()
        .apply_env(
            &mut c,
            vars(&[
                ("NYRODB_CLUSTER_ADVERTISE", ""),
                ("NYRODB_CLUSTER_BOOTSTRAP", ""),
            ]),
        )
        .unwrap();
    assert_eq!(c.cluster.advertise, None);
    assert!(c.cluster.bootstrap.is_empty());
    assert_eq!(c.advertise(), "127.0.0.1:7070");

    let err = ServerConfig::schema()
        .apply_env(&mut c, vars(&[("NYRODB_CLUSTER_BOOTSTRAP", "1@a:1,1@b:1")]))
        .unwrap_err();
    assert!(
        matches!(&err, ConfigError::Env { var, .. } if var == "NYRODB_CLUSTER_BOOTSTRAP"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("has the id of bootstrap[0]"),
        "{err}"
    );
    let err = ServerConfig::schema()
        .apply_env(&mut c, vars(&[("NYRODB_CLUSTER_PEERS", "x")]))
        .unwrap_err();
    assert!(
        err.to_string().contains("NYRODB_CLUSTER_BOOTSTRAP"),
        "{err}"
    );
}

#[test]
fn the_secret_may_come_from_the_environment_alone() {
    // The file names the node but not the secret: reading it is fine, validating it is not
    // until NYRODB_CLUSTER_SECRET is applied.
    let mut c = parse(&format!("[cluster]\nnode_id = 1\nbootstrap = {THREE}\n")).unwrap();
    let message = invalid(
        &format!("[cluster]\nnode_id = 1\nbootstrap = {THREE}\n"),
        "cluster.secret",
    );
    assert!(message.contains("NYRODB_CLUSTER_SECRET"), "{message}");
    ServerConfig::schema()
        .apply_env(&mut c, vars(&[("NYRODB_CLUSTER_SECRET", "s")]))
        .unwrap();
    ServerConfig::schema().validate(&c, FILE).unwrap();
}

#[test]
fn flags_override_the_cluster_keys() {
    let mut c = parse(&format!(
        "[cluster]\nsecret = \"s\"\nbootstrap = {THREE}\nnode_id = 1\n"
    ))
    .unwrap();
    let schema = ServerConfig::schema();
    schema
        .set_override(&mut c, "--node-id", "cluster.node_id", "2")
        .unwrap();
    schema
        .set_override(&mut c, "--advertise", "cluster.advertise", "127.0.0.1:7071")
        .unwrap();
    schema.validate(&c, FILE).unwrap();
    schema
        .set_override(
            &mut c,
            "--bootstrap",
            "cluster.bootstrap",
            "2@127.0.0.1:7071",
        )
        .unwrap();
    assert_eq!(c.cluster.bootstrap, [member(2, "127.0.0.1:7071")]);
    schema.validate(&c, FILE).unwrap();
    let err = schema
        .set_override(&mut c, "--node-id", "cluster.node_id", "two")
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("--node-id") && message.contains("cluster.node_id"),
        "{message}"
    );
}

#[test]
fn bad_cluster_values_are_refused_where_they_are_read() {
    for (text, key, needle) in [
        (
            "[cluster]\nnode_id = -1\n",
            "cluster.node_id",
            "0 (standalone)",
        ),
        (
            "[cluster]\nnode_id = \"1\"\n",
            "cluster.node_id",
            "an integer",
        ),
        (
            "[cluster]\nadvertise = \"10.0.0.1\"\n",
            "cluster.advertise",
            "no port",
        ),
        (
            "[cluster]\nadvertise = \"http://a:1\"\n",
            "cluster.advertise",
            "scheme",
        ),
        (
            "[cluster]\nadvertise = \"::1:7070\"\n",
            "cluster.advertise",
            "brackets",
        ),
        (
            "[cluster]\nbootstrap = \"1@a:1\"\n",
            "cluster.bootstrap",
            "an array of strings",
        ),
        (
            "[cluster]\nbootstrap = [1, 2]\n",
            "cluster.bootstrap",
            "an array of strings",
        ),
        (
            "[cluster]\nbootstrap = [\"1@a:1,2@b:1\"]\n",
            "cluster.bootstrap",
            "an array of strings without commas",
        ),
        (
            "[cluster]\nbootstrap = [\"a:1\"]\n",
            "cluster.bootstrap",
            "not ID@HOST:PORT",
        ),
        (
            "[cluster]\nbootstrap = [\"0@a:1\"]\n",
            "cluster.bootstrap",
            "1 or more",
        ),
        (
            "[cluster]\nbootstrap = [\"1@a\"]\n",
            "cluster.bootstrap",
            "no port",
        ),
        (
            "[cluster]\nbootstrap = [\"1@a:0\"]\n",
            "cluster.bootstrap",
            "from 1 to 65535",
        ),
        (
            "[cluster]\nbootstrap = [\"1@a:1\", \"\"]\n",
            "cluster.bootstrap",
            "bootstrap[1] is empty",
        ),
        (
            "[cluster]\nbootstrap = [\"1@a:1\", \"2@b:1\", \"2@c:1\"]\n",
            "cluster.bootstrap",
            "bootstrap[2] `2@c:1` has the id of bootstrap[1] `2@b:1`",
        ),
        (
            "[cluster]\nbootstrap = [\"1@a:1\", \"2@a:1\"]\n",
            "cluster.bootstrap",
            "has the address of bootstrap[0]",
        ),
        (
            "[cluster]\nsecret = \"a\\nb\"\n",
            "cluster.secret",
            "printable ASCII",
        ),
        (
            "[cluster]\nheartbeat_ms = 0\n",
            "cluster.heartbeat_ms",
            "from 1 to 60000",
        ),
        (
            "[cluster]\nheartbeat_ms = 60001\n",
            "cluster.heartbeat_ms",
            "from 1 to 60000",
        ),
        (
            "[cluster]\nelection_timeout_ms = 9\n",
            "cluster.election_timeout_ms",
            "from 10 to 300000",
        ),
        (
            "[cluster]\nelection_timeout_ms = 300001\n",
            "cluster.election_timeout_ms",
            "from 10 to 300000",
        ),
        ("[cluster]\npeers = []\n", "cluster.peers", "bootstrap"),
    ] {
        let message = refused(text, key);
        assert!(message.contains(needle), "{text:?}: {message}");
    }
    // The secret itself is never echoed.
    let message = refused("[cluster]\nsecret = \" hunter2\"\n", "cluster.secret");
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn keys_that_disagree_are_refused_by_validate() {
    // A cluster node needs a secret.
    let message = invalid("[cluster]\nnode_id = 1\n", "cluster.secret");
    assert!(message.contains("required"), "{message}");
    // The bootstrap list names this node...
    let message = invalid(
        &format!("[cluster]\nnode_id = 4\nsecret = \"s\"\nbootstrap = {THREE}\n"),
        "cluster.bootstrap",
    );
    assert!(message.contains("does not list this node"), "{message}");
    // ... at the address it advertises (here server.listen, by default).
    let message = invalid(
        &format!("[cluster]\nnode_id = 3\nsecret = \"s\"\nbootstrap = {THREE}\n"),
        "cluster.advertise",
    );
    assert!(message.contains("127.0.0.1:7072"), "{message}");
    // A bootstrap list without a node id is a forgotten node id.
    invalid(
        &format!("[cluster]\nbootstrap = {THREE}\n"),
        "cluster.node_id",
    );
    // Several heartbeats fit in one election timeout.
    let message = invalid(
        "[cluster]\nheartbeat_ms = 500\nelection_timeout_ms = 1000\n",
        "cluster.heartbeat_ms",
    );
    assert!(message.contains("less than half"), "{message}");
    let message = invalid(
        "[cluster]\nelection_timeout_ms = 150\n",
        "cluster.heartbeat_ms",
    );
    assert!(message.contains("100 ms"), "{message}");
}

#[test]
fn debug_redacts_the_cluster_secret() {
    let mut config = ServerConfig::default();
    config.cluster.secret = "s3cret-shared".to_owned();
    let debug = format!("{config:?}");
    assert!(!debug.contains("s3cret-shared"), "{debug}");
}
