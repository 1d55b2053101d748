//! Restarts: data and indexes survive a shutdown; a shutdown while writers run loses no
//! acknowledged write; the data directory is held by one server at a time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use nyro_server::Server;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_and_indexes_survive_a_restart() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    server.create("users", &["city"]).await;
    let (ada, _) = server
        .insert("users", json!({"name": "Ada", "city": "London"}))
        .await;
    let (bob, _) = server
        .insert("users", json!({"name": "Bob", "city": "Paris"}))
        .await;
    let (cy, _) = server
        .insert("users", json!({"name": "Cy", "city": "London"}))
        .await;
    server
        .put(
            &format!("/v1/collections/users/records/{bob}"),
            &json!({"name": "Bob", "city": "London"}),
        )
        .await
        .expect(200);
    server
        .delete(&format!("/v1/collections/users/records/{cy}"))
        .await
        .expect(204);
    server.insert("notes", json!({"text": "émoji 😀"})).await;
    server.create("dropped", &[]).await;
    server.insert("dropped", json!({})).await;
    server.delete("/v1/collections/dropped").await.expect(204);
    let before = server.snapshot().await;
    let seq = server.last_seq().await;
    server.stop().await;

    let server = start(&dir).await;
    assert_eq!(server.snapshot().await, before);
    assert_eq!(server.last_seq().await, seq);
    assert_eq!(
        server.get("/v1/collections").await.expect(200)["collections"],
        json!([
            {"name": "notes", "count": 1, "indexes": []},
            {"name": "users", "count": 2, "indexes": ["city"]},
        ])
    );
    // The index was rebuilt: the replaced and deleted documents are where they belong.
    let london = server
        .post(
            "/v1/collections/users/_query",
            &json!({"where": {"city": "London"}}),
        )
        .await;
    let ids: Vec<u64> = london.expect(200)["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [ada, bob]);
    let paris = server
        .post(
            "/v1/collections/users/_query",
            &json!({"where": {"city": "Paris"}}),
        )
        .await;
    assert_eq!(paris.expect(200)["records"], json!([]));
    // Ids go on after the highest ever assigned (the deleted one included); so do seqs.
    let (next, next_seq) = server.insert("users", json!({"name": "Di"})).await;
    assert!(next > cy);
    assert_eq!(next_seq, seq + 1);
    // The feed replays history written before the restart.
    let mut ws = server
        .ws("/v1/collections/users/changes?since=0")
        .await
        .unwrap();
    assert_eq!(next_change(&mut ws).await["_id"], ada);
    ws_close(ws).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_per_data_directory() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    let second = Server::bind(config(dir.path())).await;
    assert!(
        second.is_err(),
        "a second server opened a held data directory"
    );
    server.stop().await;
    // Released after the first stopped.
    let again = start(&dir).await;
    again.get("/health").await.expect(200);
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_during_writes_loses_nothing_acknowledged() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    server.create("w", &["writer"]).await;

    const WRITERS: usize = 8;
    let acked = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let acked = Arc::clone(&acked);
            let base = server.url("");
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .no_proxy()
                    .timeout(Duration::from_secs(3))
                    .build()
                    .unwrap();
                let mut mine: Vec<(u64, Value)> = Vec::new();
                for i in 0i64.. {
                    let doc = json!({"writer": w, "i": i, "pad": "p".repeat((i % 50) as usize)});
                    // Every third write is a bulk of two.
                    let result = if i % 3 == 2 {
                        let body = json!([doc.clone(), {"writer": w, "i": -i}]);
                        client
                            .post(format!("{base}/v1/collections/w/records/_bulk"))
                            .header("content-type", "application/json")
                            .body(body.to_string())
                            .send()
                            .await
                    } else {
                        client
                            .post(format!("{base}/v1/collections/w/records"))
                            .header("content-type", "application/json")
                            .body(doc.to_string())
                            .send()
                            .await
                    };
                    let Ok(response) = result else { break };
                    if !response.status().is_success() {
                        assert_eq!(response.status(), 503, "only refusals while stopping");
                        break;
                    }
                    let Ok(body) = response.json::<Value>().await else {
                        break;
                    };
                    if let Some(ids) = body["ids"].as_array() {
                        mine.push((ids[0].as_u64().unwrap(), doc));
                        let id = ids[1].as_u64().unwrap();
                        mine.push((id, json!({"writer": w, "i": -i})));
                    } else {
                        mine.push((body["_id"].as_u64().unwrap(), doc));
                    }
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                mine
            })
        })
        .collect();

    // Let the writers get going, then stop the server under them.
    within("the first acknowledged writes", async {
        while acked.load(Ordering::Relaxed) < 100 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    server.stop().await;
    let mut written: Vec<(u64, Value)> = Vec::new();
    for writer in writers {
        written.extend(within("a writer to stop", writer).await.unwrap());
    }
    assert!(written.len() >= 100);

    let server = start(&dir).await;
    for (id, doc) in &written {
        let answer = server.get(&format!("/v1/collections/w/records/{id}")).await;
        let mut expected = doc.clone();
        expected["_id"] = json!(id);
        assert_eq!(
            answer.expect(200),
            &expected,
            "acknowledged write {id} lost"
        );
    }
    let stored = server.all_docs("w").await.len();
    assert!(stored >= written.len());
    // The index was rebuilt over all of it.
    let by_writer = server
        .post(
            "/v1/collections/w/_query",
            &json!({"where": {"writer": 0}, "limit": 10000}),
        )
        .await;
    let expected_zero = written.iter().filter(|(_, d)| d["writer"] == 0).count();
    assert!(by_writer.expect(200)["records"].as_array().unwrap().len() >= expected_zero);
    server.stop().await;
}
