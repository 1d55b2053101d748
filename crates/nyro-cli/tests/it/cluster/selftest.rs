//! The harness's own pieces, checked on standalone servers (no `[cluster]`): start, requests,
//! the comparison (equal, then a named difference), kill -9 and restart on the same data,
//! SIGSTOP/SIGCONT, and what dropping the cluster does (kills; on a panic keeps the logs).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::http::read_feed;
use super::scenarios::write_drop_and_compact;
use super::{Cluster, Http, Options, Until};

/// The same writes on node `i`: a collection with an index, insert, put, `_bulk`, delete.
async fn write_the_same(c: &Cluster, i: usize) {
    let users = "/v1/collections/users";
    c.put(i, users, json!({"indexes": ["city"]}))
        .await
        .expect(201, "create users");
    c.post(
        i,
        &format!("{users}/records"),
        json!({"city": "Paris", "n": 1}),
    )
    .await
    .expect(201, "insert");
    c.put(i, &format!("{users}/records/7"), json!({"city": "Rome"}))
        .await
        .expect(200, "put");
    let bulk = json!([{"n": 2}, {"_id": 20, "n": 3, "city": "Rome"}]);
    c.post(i, &format!("{users}/records/_bulk"), bulk)
        .await
        .expect(201, "bulk");
    c.delete(i, &format!("{users}/records/1"))
        .await
        .expect(204, "delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harness_runs_compares_kills_and_restarts_standalone_nodes() {
    let options = Options {
        cluster: false,
        extra_config: "[batch]\nsync = \"always\"\n".to_string(),
        ..Options::default()
    };
    let mut c = Cluster::start_with(2, options).await;
    let log = std::fs::read_to_string(c.node(1).log_path()).unwrap();
    assert!(
        log.contains("sync=always"),
        "the extra config is not in effect: {log}"
    );
    assert!(c.node(0).data_dir().is_dir());
    assert_eq!(c.len(), 2);
    assert_eq!(c.running_members(), vec![0, 1]);
    for i in 0..2 {
        write_the_same(&c, i).await;
    }
    c.assert_converged().await;
    let feed = c.feed(0, 0, c.last_seq(0).await).await;
    assert_eq!(feed.len(), 5, "{feed:?}");
    assert_eq!(feed[4]["op"], "delete");

    // One more change on node 2: the comparison names the record and the feed.
    c.put(
        1,
        "/v1/collections/users/records/7",
        json!({"city": "Oslo"}),
    )
    .await
    .expect(200, "put");
    let differences = c.differences(&[0, 1]).await.unwrap_err();
    assert!(
        differences.contains(
            r#"users _id 7: node 1 has {"_id":7,"city":"Rome"}, node 2 has {"_id":7,"city":"Oslo"}"#
        ),
        "{differences}"
    );
    assert!(
        differences
            .contains("change feed after seq 0: node 1 sent 5 events (last seq 5), node 2 sent 6"),
        "{differences}"
    );

    // kill -9, then a restart on the same config and data.
    c.kill9(0);
    let refused = c.try_request(0, Method::GET, "/health", None).await;
    assert!(refused.is_err(), "a killed node answered: {refused:?}");
    assert!(c.running_members() == vec![1]);
    c.restart(0).await;
    let doc = c.get(0, "/v1/collections/users/records/7").await;
    assert_eq!(doc.status, 200, "{doc}");
    assert_eq!(doc.body, json!({"_id": 7, "city": "Rome"}));
    assert_eq!(c.last_seq(0).await, 5);

    // SIGSTOP: no answer; SIGCONT: answers again.
    c.stop(1);
    assert_eq!(c.running_members(), vec![0]);
    let url = format!("{}/health", c.node(1).url());
    let paused = Http::new(Duration::from_millis(500))
        .send(Method::GET, &url, None)
        .await;
    assert!(paused.is_err(), "a stopped node answered: {paused:?}");
    c.cont(1);
    c.get(1, "/health")
        .await
        .expect(200, "health after SIGCONT");

    // Dropping the cluster kills its processes (a stopped one too) and removes its directory.
    c.stop(1);
    let urls: Vec<String> = (0..2).map(|i| c.node(i).url()).collect();
    let dir = c.node(0).dir().parent().unwrap().to_path_buf();
    drop(c);
    let http = Http::new(Duration::from_secs(2));
    for url in urls {
        let answer = http.send(Method::GET, &format!("{url}/health"), None).await;
        assert!(
            answer.is_err(),
            "{url} still answers after the drop: {answer:?}"
        );
    }
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_whose_oldest_changes_were_compacted_compare_what_is_retained() {
    let options = Options {
        cluster: false,
        storage_keys: "segment_size_mb = 1\n".to_string(),
        ..Options::default()
    };
    let c = Cluster::start_with(2, options).await;
    for i in 0..2 {
        let summary = write_drop_and_compact(&c, i).await;
        assert!(
            summary["segments_rewritten"].as_u64() > Some(0),
            "{summary}"
        );
    }
    let url = c.node(0).url();
    let refused = read_feed(&url, 0, Until::Count(1), Duration::from_secs(10))
        .await
        .unwrap_err();
    let floor = refused.compacted_floor();
    assert!(floor.is_some_and(|f| f > 0), "{refused}");
    c.assert_converged().await;
    let retained = c.feed(0, floor.unwrap(), c.last_seq(0).await).await;
    assert!(!retained.is_empty());
}

#[test]
fn a_failing_test_keeps_the_nodes_directories() {
    let (sender, receiver) = std::sync::mpsc::channel();
    let failing = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let c = Cluster::standalone(1).await;
            sender.send(c.node(0).log_path()).unwrap();
            panic!("a test failing on purpose, with a cluster");
        });
    });
    assert!(failing.join().is_err());
    let log = receiver.recv().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("===== harness: start 1 of node 1 ====="),
        "{text}"
    );
    assert!(text.contains("nyrodb listening"), "{text}");
    assert!(!text.contains('\u{1b}'), "colour codes in the log: {text}");
    std::fs::remove_dir_all(log.parent().unwrap().parent().unwrap()).unwrap();
}

#[test]
fn a_leader_is_agreed_only_when_every_answer_names_the_same_one() {
    use super::harness::agreed_leader;
    assert_eq!(agreed_leader(&[Some(2), Some(2), Some(2)], 3), Some(2));
    assert_eq!(
        agreed_leader(&[Some(2), Some(2)], 3),
        None,
        "a node did not answer"
    );
    assert_eq!(agreed_leader(&[Some(2), Some(3), Some(2)], 3), None);
    assert_eq!(agreed_leader(&[Some(2), None, Some(2)], 3), None);
    assert_eq!(agreed_leader(&[None, None, None], 3), None);
    assert_eq!(agreed_leader(&[], 0), None);
}

#[test]
fn voters_are_listed_with_one_leader_and_followers() {
    use super::scenarios::lists_voters;
    let status = |leader: Value, roles: [(u64, &str); 3]| {
        let members: Vec<Value> = roles
            .iter()
            .map(|(id, role)| json!({"id": id, "addr": format!("127.0.0.1:{id}"), "role": role, "match_index": 7}))
            .collect();
        json!({"node_id": 1, "leader_id": leader, "term": 2, "commit_index": 9, "applied_index": 9, "members": members})
    };
    let good = status(json!(2), [(3, "follower"), (1, "follower"), (2, "leader")]);
    assert!(lists_voters(&good, &[1, 2, 3]));
    assert!(!lists_voters(&good, &[1, 2]));
    assert!(!lists_voters(&good, &[1, 2, 3, 4]));
    let learner = status(json!(2), [(1, "follower"), (2, "leader"), (3, "learner")]);
    assert!(!lists_voters(&learner, &[1, 2, 3]));
    let no_leader = status(
        Value::Null,
        [(1, "follower"), (2, "follower"), (3, "follower")],
    );
    assert!(!lists_voters(&no_leader, &[1, 2, 3]));
    let two_leaders = status(json!(2), [(1, "leader"), (2, "leader"), (3, "follower")]);
    assert!(!lists_voters(&two_leaders, &[1, 2, 3]));
}
