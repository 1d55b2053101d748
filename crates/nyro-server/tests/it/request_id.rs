//! Every answer carries an `x-request-id`: the client's if acceptable, a new one otherwise.

use crate::common::*;

fn id_of(answer: &Answer) -> String {
    answer
        .headers
        .get("x-request-id")
        .expect("an x-request-id header")
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_a_request_id() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    // Generated when absent, different each time; on errors too.
    let a = id_of(&server.get("/health").await);
    let b = id_of(&server.get("/v1/stats").await);
    let c = id_of(&server.get("/nope").await);
    assert!(!a.is_empty());
    assert_ne!(a, b);
    assert_ne!(b, c);

    // Echoed when the client sends an acceptable one; replaced otherwise.
    let send = |id: &'static str| {
        let request = server
            .client
            .get(server.url("/v1/collections"))
            .header("x-request-id", id);
        send(request)
    };
    assert_eq!(id_of(&send("client-trace-42").await), "client-trace-42");
    let replaced = id_of(&send("bad id with spaces").await);
    assert_ne!(replaced, "bad id with spaces");
    assert!(!replaced.contains(' '));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_carry_a_request_id_too() {
    let dir = DataDir::new();
    let server = start_in(dir.path(), |c| c.server.auth_token = "secret".to_string()).await;
    let answer = send(server.client.get(server.url("/v1/stats"))).await;
    assert_eq!(answer.status.as_u16(), 401);
    assert!(!id_of(&answer).is_empty());
    server.stop().await;
}
