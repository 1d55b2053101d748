//! Client commands against a real server (a child process on a free loopback port).

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Server, free_port, nyrodb, texts};

const CONFIG: &str = "[[collections]]\nname = \"users\"\nindexes = [\"city\", \"age\"]\n";
const TOKEN: &str = "s3cret-token";

fn json_stdout(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}", texts(output)))
}

#[test]
fn insert_get_put_query_delete_and_stats() {
    let server = Server::start(CONFIG, TOKEN);
    let run = |args: &[&str]| server.command(TOKEN).args(args).assert();

    let inserted = json_stdout(
        run(&[
            "insert",
            "users",
            r#"{"name":"Ada","city":"London","age":42}"#,
        ])
        .success()
        .get_output(),
    );
    let id = inserted["_id"].as_u64().unwrap();
    assert!(inserted["seq"].as_u64().is_some());
    run(&[
        "insert",
        "users",
        r#"{"name":"Bob","city":"London","age":"42"}"#,
    ])
    .success();
    // The document can come from standard input too.
    server
        .command(TOKEN)
        .args(["insert", "users", "-", "--sync"])
        .write_stdin(r#"{"name":"Cy","city":"Paris","age":7}"#)
        .assert()
        .success();

    let doc = json_stdout(
        run(&["get", "users", &id.to_string()])
            .success()
            .get_output(),
    );
    assert_eq!(doc["name"], "Ada");
    assert_eq!(doc["_id"], id);

    let replaced = json_stdout(
        run(&[
            "put",
            "users",
            &id.to_string(),
            r#"{"name":"Ada L","city":"London","age":42}"#,
        ])
        .success()
        .get_output(),
    );
    assert_eq!(replaced["created"], false);
    let created = json_stdout(
        run(&["put", "users", "500", r#"{"name":"Dee","city":"Rome"}"#])
            .success()
            .get_output(),
    );
    assert_eq!(created["created"], true);

    let london = json_stdout(
        run(&["query", "users", "city=London"])
            .success()
            .get_output(),
    );
    assert_eq!(london["records"].as_array().unwrap().len(), 2);
    // 42 is the number, "42" the string.
    let number = json_stdout(run(&["query", "users", "age=42"]).success().get_output());
    assert_eq!(number["records"][0]["name"], "Ada L");
    assert_eq!(number["records"].as_array().unwrap().len(), 1);
    let string = json_stdout(
        run(&["query", "users", "age=\"42\""])
            .success()
            .get_output(),
    );
    assert_eq!(string["records"][0]["name"], "Bob");
    let both = json_stdout(
        run(&["query", "users", "city=London", "age=42", "--limit", "5"])
            .success()
            .get_output(),
    );
    assert_eq!(both["records"].as_array().unwrap().len(), 1);

    let deleted = run(&["delete", "users", &id.to_string()]).success();
    assert!(deleted.get_output().stdout.is_empty());
    run(&["get", "users", &id.to_string()])
        .code(1)
        .stdout("")
        .stderr(predicates::str::contains("no document with _id"));

    let output = run(&["stats", "--url", &server.url])
        .success()
        .get_output()
        .clone();
    let (stdout, _) = texts(&output);
    assert!(stdout.contains("users"), "{stdout}");
    assert!(stdout.contains("uptime"), "{stdout}");
    let output = run(&["stats", "--json", "--url", &server.url])
        .success()
        .get_output()
        .clone();
    assert_eq!(json_stdout(&output)["collections"][0]["count"], 3);
}

#[test]
fn error_answers_print_their_message_and_exit_1() {
    let server = Server::start(CONFIG, TOKEN);
    let run = |args: &[&str]| server.command(TOKEN).args(args).assert();
    run(&["insert", "users", "{not json"])
        .code(1)
        .stdout("")
        .stderr(predicates::str::contains("not valid JSON"));
    run(&["insert", "users", "[1, 2]"])
        .code(1)
        .stderr(predicates::str::contains("bad_request"));
    // Any path may be queried, but only _id or an indexed path sorts.
    run(&["query", "users", "{}", "--sort", "name"])
        .code(1)
        .stderr(predicates::str::contains("not_indexed"));
    run(&["get", "bad name!", "1"])
        .code(1)
        .stderr(predicates::str::contains("invalid collection name"));
    run(&["watch", "nope"])
        .code(1)
        .stderr(predicates::str::contains("does not exist"));
    // Without the token.
    server
        .command("")
        .args(["get", "users", "1"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("401"));
    // A server that is not there.
    nyrodb()
        .args(["get", "users", "1", "--url"])
        .arg(format!("http://127.0.0.1:{}", free_port()))
        .assert()
        .code(1)
        .stderr(predicates::str::contains("cannot reach the NyroDB server"));
    // The server holds its data directory: offline commands refuse it, naming it.
    nyrodb()
        .args(["verify", "--data"])
        .arg(&server.data)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("is locked"))
        .stderr(predicates::str::contains(server.data.display().to_string()));
}

#[test]
fn watch_replays_since_a_seq_then_follows_live_changes() {
    let server = Server::start(CONFIG, TOKEN);
    for i in 0..3 {
        server
            .command(TOKEN)
            .args(["insert", "users", &format!(r#"{{"n":{i}}}"#)])
            .assert()
            .success();
    }
    server
        .command(TOKEN)
        .args(["insert", "other", r#"{"x":1}"#])
        .assert()
        .success();

    // Replay of one collection, bounded by --count.
    let output = server
        .command(TOKEN)
        .args(["watch", "users", "--since", "0", "--count", "3"])
        .assert()
        .success()
        .get_output()
        .clone();
    let (stdout, _) = texts(&output);
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 3);
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(
        events
            .iter()
            .all(|e| e["op"] == "insert" && e["collection"] == "users")
    );

    // Resuming after the second event gives exactly what follows it, across collections.
    let output = server
        .command(TOKEN)
        .args(["watch", "--count", "2", "--since"])
        .arg(seqs[1].to_string())
        .assert()
        .success()
        .get_output()
        .clone();
    let (stdout, _) = texts(&output);
    let resumed: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(resumed[0]["seq"], seqs[2]);
    assert_eq!(resumed[1]["collection"], "other");

    // Live: a watcher started now sees a change made after it, then stops (--count 1).
    let last = resumed[1]["seq"].as_u64().unwrap();
    let mut watcher = std::process::Command::new(env!("CARGO_BIN_EXE_nyrodb"))
        .args([
            "watch",
            "users",
            "--count",
            "1",
            "--since",
            &last.to_string(),
        ])
        .args(["--url", &server.url])
        .env("NYRODB_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    server
        .command(TOKEN)
        .args(["put", "users", "1", r#"{"n":"changed"}"#])
        .assert()
        .success();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = watcher.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = watcher.kill();
            let _ = watcher.wait();
            panic!("nyrodb watch did not print the live change within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    watcher
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(status.success(), "{stdout}");
    let event: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(event["op"], "update");
    assert_eq!(event["doc"]["n"], "changed");
    assert_eq!(event["seq"], last + 1);
}

#[test]
fn a_feed_cut_with_code_4000_prints_the_reason_and_exits_1() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    // A stand-in server that sends one change, then cuts the feed as a lagging consumer's.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let server = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let (stream, _) = tokio::time::timeout(Duration::from_secs(30), listener.accept())
                .await
                .expect("nyrodb watch connects within 30 s")
                .unwrap();
            let mut socket = tokio_tungstenite::accept_async(stream).await.unwrap();
            let change = r#"{"seq":7,"op":"insert","collection":"t","_id":1,"doc":{"_id":1}}"#;
            socket.send(Message::Text(change.into())).await.unwrap();
            let frame = CloseFrame {
                code: CloseCode::from(4000),
                reason: "lagged: fell too far behind; resume with since=7".into(),
            };
            socket.send(Message::Close(Some(frame))).await.unwrap();
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                while let Some(Ok(_)) = socket.next().await {}
            })
            .await;
        });
    });
    nyrodb()
        .args(["watch", "--url", &format!("http://127.0.0.1:{port}")])
        .assert()
        .code(1)
        .stdout(predicates::str::contains("\"seq\":7"))
        .stderr(predicates::str::contains("resume with since=7"))
        .stderr(predicates::str::contains("close code 4000"));
    server.join().unwrap();
}

#[test]
fn index_add_and_drop() {
    let server = Server::start(CONFIG, TOKEN);
    let run = |args: &[&str]| server.command(TOKEN).args(args).assert();
    run(&[
        "insert",
        "users",
        r#"{"name":"Ada","address":{"city":"London"}}"#,
    ])
    .success();

    let added = json_stdout(
        run(&["index", "add", "users", "name", "--sync"])
            .success()
            .get_output(),
    );
    assert_eq!(added["collection"], "users");
    assert_eq!(added["path"], "name");
    assert!(
        added["state"] == "building" || added["state"] == "ready",
        "{added}"
    );
    // Again: the server's conflict, exit 1 with its message.
    let again = run(&["index", "add", "users", "name"]).failure().code(1);
    let (_, stderr) = texts(again.get_output());
    assert!(stderr.contains("conflict"), "{stderr}");
    run(&["index", "add", "users", "a..b"]).failure().code(1);

    let dropped = run(&["index", "drop", "users", "name"]).success();
    assert!(dropped.get_output().stdout.is_empty());
    let unknown = run(&["index", "drop", "users", "name"]).failure().code(1);
    let (_, stderr) = texts(unknown.get_output());
    assert!(stderr.contains("not_found"), "{stderr}");
    // A path with a dot reaches the server as one path segment.
    run(&["index", "add", "users", "address.city"]).success();
    run(&["index", "drop", "users", "address.city"]).success();
    // Usage errors are exit 2.
    run(&["index", "add", "users"]).failure().code(2);
}
