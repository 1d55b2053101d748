//! HTTPS and WSS (`server.tls_cert`, `server.tls_key`), with self-signed certificates made
//! here: the API, the change feed and the console over TLS; plain HTTP refused without an
//! HTTP answer; bad files refused at start, naming the file; the certificate reloaded.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use nyro_server::{ServeError, Server, ServerConfig};
use rustls::pki_types::CertificateDer;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::{DataDir, TestServer, WAIT, config, start_in, within};

/// A self-signed certificate for 127.0.0.1 and localhost, written as PEM files.
struct TestCert {
    cert_pem: String,
    der: Vec<u8>,
    cert: PathBuf,
    key: PathBuf,
}

impl TestCert {
    fn new(dir: &Path, name: &str) -> TestCert {
        let rcgen::CertifiedKey { cert, key_pair } = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .expect("a self-signed certificate");
        let cert_path = dir.join(format!("{name}-cert.pem"));
        let key_path = dir.join(format!("{name}-key.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key_pair.serialize_pem()).unwrap();
        TestCert {
            cert_pem: cert.pem(),
            der: cert.der().to_vec(),
            cert: cert_path,
            key: key_path,
        }
    }

    /// An HTTPS client that trusts this certificate only.
    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .timeout(WAIT)
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.cert_pem.as_bytes()).unwrap())
            .build()
            .unwrap()
    }

    /// A rustls client config that trusts this certificate only.
    fn rustls_client(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(self.der.clone())).unwrap();
        Arc::new(
            rustls::ClientConfig::builder_with_provider(nyro_server::tls::provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

async fn start_tls(dir: &Path, cert: &TestCert) -> TestServer {
    let (c, k) = (cert.cert.clone(), cert.key.clone());
    start_in(dir, move |config| {
        config.server.tls_cert = Some(c);
        config.server.tls_key = Some(k);
    })
    .await
}

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = within("an HTTPS body", response.bytes()).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_api_the_change_feed_and_the_console_work_over_tls() {
    let dir = DataDir::new();
    let certs = tempfile::tempdir().unwrap();
    let cert = TestCert::new(certs.path(), "server");
    let server = start_tls(dir.path(), &cert).await;
    let client = cert.client();
    let url = |path: &str| format!("https://{}{path}", server.addr);

    let health = within("GET /health", client.get(url("/health")).send())
        .await
        .unwrap();
    assert_eq!(json_of(health).await, (200, json!({"status": "ok"})));
    let created = within("PUT", client.put(url("/v1/collections/tls")).send())
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);

    // The change feed over WSS, trusting the same certificate.
    let request = format!("wss://{}/v1/changes?since=0", server.addr)
        .into_client_request()
        .unwrap();
    let (mut ws, _) = within(
        "the WSS handshake",
        tokio_tungstenite::connect_async_tls_with_config(
            request,
            None,
            false,
            Some(Connector::Rustls(cert.rustls_client())),
        ),
    )
    .await
    .expect("the change feed opens over WSS");

    let inserted = within(
        "POST a record",
        client
            .post(url("/v1/collections/tls/records"))
            .json(&json!({"over": "tls"}))
            .send(),
    )
    .await
    .unwrap();
    let (status, answer) = json_of(inserted).await;
    assert_eq!(status, 201, "{answer}");
    let id = answer["_id"].as_u64().unwrap();

    let event = loop {
        match within("a change over WSS", ws.next()).await {
            Some(Ok(Message::Text(text))) => break serde_json::from_str::<Value>(&text).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("unexpected feed message {other:?}"),
        }
    };
    assert_eq!(event["op"], "insert");
    assert_eq!(event["_id"], id);
    assert_eq!(event["doc"]["over"], "tls");

    let got = within(
        "GET the record",
        client
            .get(url(&format!("/v1/collections/tls/records/{id}")))
            .send(),
    )
    .await
    .unwrap();
    let (status, doc) = json_of(got).await;
    assert_eq!((status, &doc["over"]), (200, &json!("tls")));

    // The web console: its page over HTTPS, and its script picks wss: on an https: page.
    let page = within("GET /", client.get(url("/")).send()).await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = within("the console page", page.text()).await.unwrap();
    assert!(
        html.contains("<html") || html.contains("<!doctype"),
        "{html}"
    );
    let script = within(
        "GET /console/api.js",
        client.get(url("/console/api.js")).send(),
    )
    .await
    .unwrap();
    assert_eq!(script.status().as_u16(), 200);
    let script = within("the console script", script.text()).await.unwrap();
    assert!(
        script.contains(r#"location.protocol === "https:" ? "wss:" : "ws:""#),
        "the console no longer picks wss: on https:"
    );

    drop(ws);
    server.stop().await;
}

/// Sends a plain HTTP request to `addr` and returns whatever comes back before the close.
async fn plain_http_answer(addr: std::net::SocketAddr) -> Vec<u8> {
    let mut stream = within("a TCP connection", tokio::net::TcpStream::connect(addr))
        .await
        .unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    // The server closes the connection; a reset is a close too.
    let _ = within("the server to close", stream.read_to_end(&mut answer)).await;
    answer
}

#[tokio::test]
async fn plain_http_to_the_tls_port_gets_no_http_answer() {
    let dir = DataDir::new();
    let certs = tempfile::tempdir().unwrap();
    let cert = TestCert::new(certs.path(), "server");
    let server = start_tls(dir.path(), &cert).await;

    let answer = plain_http_answer(server.addr).await;
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP got an HTTP answer: {}",
        String::from_utf8_lossy(&answer)
    );
    // A plain HTTP client fails rather than getting an answer, and so does ws://.
    let plain = within(
        "a plain HTTP request",
        server
            .client
            .get(format!("http://{}/health", server.addr))
            .send(),
    )
    .await;
    assert!(plain.is_err(), "{plain:?}");
    let ws = within(
        "a ws:// handshake",
        tokio_tungstenite::connect_async(format!("ws://{}/v1/changes", server.addr)),
    )
    .await;
    assert!(ws.is_err());
    // A client that does not trust the certificate is refused by its own check.
    let other = TestCert::new(certs.path(), "other");
    let untrusted = within(
        "a request trusting another certificate",
        other
            .client()
            .get(format!("https://{}/health", server.addr))
            .send(),
    )
    .await;
    assert!(untrusted.is_err(), "{untrusted:?}");
    // And the server goes on serving TLS.
    let ok = within(
        "GET /health",
        cert.client()
            .get(format!("https://{}/health", server.addr))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    server.stop().await;
}

/// Binding with these TLS settings fails; returns the message.
async fn bind_fails(cert: Option<&Path>, key: Option<&Path>) -> String {
    let dir = DataDir::new();
    let data = dir.path().join("data");
    let mut config: ServerConfig = config(&data);
    config.server.tls_cert = cert.map(Path::to_path_buf);
    config.server.tls_key = key.map(Path::to_path_buf);
    let err = match within("Server::bind", Server::bind(config)).await {
        Ok(_) => panic!("the server started with tls_cert {cert:?} and tls_key {key:?}"),
        Err(err) => err,
    };
    assert!(matches!(err, ServeError::Tls(_)), "{err:?}");
    // Refused before the data directory is touched.
    assert!(!data.exists());
    err.to_string()
}

#[tokio::test]
async fn bad_tls_files_stop_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = TestCert::new(dir.path(), "good");
    let other = TestCert::new(dir.path(), "other");
    let missing = dir.path().join("missing.pem");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not PEM\n").unwrap();
    let broken = dir.path().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let shown = |p: &Path| p.display().to_string();

    for (cert, key, file, words) in [
        (
            &missing,
            &good.key,
            &missing,
            "cannot read the TLS certificate file",
        ),
        (
            &good.cert,
            &missing,
            &missing,
            "cannot read the TLS private key file",
        ),
        (&garbage, &good.key, &garbage, "holds no certificate"),
        (&good.cert, &garbage, &garbage, "holds no private key"),
        (&broken, &good.key, &broken, "is not valid PEM"),
        // The key file given as the certificate, and the certificate as the key.
        (&good.key, &good.key, &good.key, "holds no certificate"),
        (&good.cert, &good.cert, &good.cert, "holds no private key"),
    ] {
        let message = bind_fails(Some(cert), Some(key)).await;
        assert!(message.contains(&shown(file)), "{message}");
        assert!(message.contains(words), "{message}");
        assert!(message.contains("server.tls_"), "{message}");
    }

    // A key that belongs to another certificate.
    let message = bind_fails(Some(&good.cert), Some(&other.key)).await;
    assert!(message.contains("does not match"), "{message}");
    assert!(message.contains(&shown(&other.key)), "{message}");
    assert!(message.contains(&shown(&good.cert)), "{message}");

    // Only one of the two.
    let message = bind_fails(Some(&good.cert), None).await;
    assert!(
        message.contains("server.tls_cert is set but server.tls_key is empty"),
        "{message}"
    );
    let message = bind_fails(None, Some(&good.key)).await;
    assert!(
        message.contains("server.tls_key is set but server.tls_cert is empty"),
        "{message}"
    );
}

#[tokio::test]
async fn a_reload_serves_the_new_certificate_and_a_bad_one_keeps_the_old() {
    let dir = DataDir::new();
    let certs = tempfile::tempdir().unwrap();
    let first = TestCert::new(certs.path(), "first");
    let mut config = config(dir.path());
    config.server.tls_cert = Some(first.cert.clone());
    config.server.tls_key = Some(first.key.clone());
    let server = Server::bind(config).await.unwrap();
    assert!(server.is_tls());
    let reloader = server.tls_reloader().expect("a TLS server has a reloader");
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let health = |cert: &TestCert| {
        let request = cert.client().get(format!("https://{addr}/health")).send();
        async move {
            within("GET /health", request)
                .await
                .map(|r| r.status().as_u16())
        }
    };
    assert_eq!(health(&first).await.unwrap(), 200);

    // Renewed files in place, then a reload: new handshakes get the new certificate.
    let second = TestCert::new(certs.path(), "second");
    std::fs::copy(&second.cert, &first.cert).unwrap();
    std::fs::copy(&second.key, &first.key).unwrap();
    reloader.reload().unwrap();
    assert_eq!(health(&second).await.unwrap(), 200);
    assert!(health(&first).await.is_err());

    // A bad file: the reload fails, naming it, and the certificate in use stays.
    std::fs::write(&first.key, "garbage").unwrap();
    let err = reloader.reload().unwrap_err().to_string();
    assert!(err.contains(&first.key.display().to_string()), "{err}");
    assert_eq!(health(&second).await.unwrap(), 200);

    let _ = stop.send(());
    within("the server to stop", task).await.unwrap().unwrap();
}
