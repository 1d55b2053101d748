//! NyroDB's server over the wire: `POST /v1/collections/docs/_query` with the bodies of
//! [`Query::body`], through one `reqwest` client (its pool keeps a keep-alive connection per
//! concurrent thread). The documents are loaded with `_bulk` (1,000 a request, 4 requests in
//! flight) into a collection created with indexes on `n`, `city` and `tags`.

use anyhow::{Context, Result, bail};
use reqwest::{Client, StatusCode};
use tokio::runtime::Runtime;

use super::data::{Answer, Dataset, INDEXED, Query};
use super::{QueryStore, Session};

/// The collection's name.
const COLLECTION: &str = "docs";
/// Documents per `_bulk` request.
const BULK: usize = 1_000;
/// `_bulk` requests in flight while loading.
const IN_FLIGHT: usize = 4;

/// A NyroDB server loaded with the documents.
pub struct Server {
    runtime: Runtime,
    client: Client,
    query_url: String,
    explain_url: String,
}

impl Server {
    /// Creates the collection on the server at `base` (`http://127.0.0.1:PORT`) and loads
    /// `data` into it.
    pub fn load(base: &str, data: &Dataset) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let client = Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .context("building the HTTP client")?;
        let base = base.trim_end_matches('/');
        let collection = format!("{base}/v1/collections/{COLLECTION}");
        runtime.block_on(async {
            let created = client
                .put(&collection)
                .body(serde_json::json!({ "indexes": INDEXED }).to_string())
                .send()
                .await
                .with_context(|| format!("creating {collection}"))?;
            ensure_ok(created, "creating the collection").await?;
            let bulk = format!("{collection}/records/_bulk");
            let mut tasks = tokio::task::JoinSet::new();
            for (i, chunk) in data.docs.chunks(BULK).enumerate() {
                let mut body = String::from("[");
                for (j, doc) in chunk.iter().enumerate() {
                    if j > 0 {
                        body.push(',');
                    }
                    // `{"_id":ID,` then the document's fields.
                    body.push_str(&format!("{{\"_id\":{},", doc.id));
                    body.push_str(&doc.json()[1..]);
                }
                body.push(']');
                if tasks.len() >= IN_FLIGHT {
                    tasks.join_next().await.context("no bulk task")???;
                }
                let (client, bulk) = (client.clone(), bulk.clone());
                tasks.spawn(async move {
                    let answer = client.post(&bulk).body(body).send().await?;
                    ensure_ok(answer, &format!("bulk request {i}")).await
                });
            }
            while let Some(done) = tasks.join_next().await {
                done??;
            }
            anyhow::Ok(())
        })?;
        Ok(Self {
            runtime,
            client,
            query_url: format!("{collection}/_query"),
            explain_url: format!("{collection}/_explain"),
        })
    }
}

impl Server {
    /// POSTs `query`'s body to `url`: the status and the whole answer.
    fn post(&self, url: &str, query: &Query) -> Result<(StatusCode, Vec<u8>)> {
        let body = query.body().to_string();
        self.runtime.block_on(async {
            let answer = self
                .client
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await?;
            anyhow::Ok((answer.status(), Vec::from(answer.bytes().await?)))
        })
    }
}

/// Fails with the server's answer unless it is 2xx.
async fn ensure_ok(answer: reqwest::Response, what: &str) -> Result<()> {
    let status = answer.status();
    if !status.is_success() {
        let text = answer.text().await.unwrap_or_default();
        bail!("{what}: the server answered {status}: {text}");
    }
    Ok(())
}

impl QueryStore for Server {
    fn session(&self) -> Result<Box<dyn Session + '_>> {
        Ok(Box::new(ServerSession { server: self }))
    }

    fn version(&self) -> Result<String> {
        // The server's version is the workspace's: the script that started it reports it.
        Ok(String::new())
    }
}

struct ServerSession<'a> {
    server: &'a Server,
}

impl Session for ServerSession<'_> {
    fn run(&mut self, query: &Query, check: bool) -> Result<Answer> {
        let (status, bytes) = self.server.post(&self.server.query_url, query)?;
        if status == StatusCode::BAD_REQUEST {
            let error: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let message = error["error"]["message"].as_str().unwrap_or("(no message)");
            return Ok(Answer::Refused(message.to_string()));
        }
        if !status.is_success() {
            bail!(
                "{query:?}: the server answered {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        if !check {
            return Ok(Answer::Received(bytes.len()));
        }
        let answer: serde_json::Value =
            serde_json::from_slice(&bytes).context("parsing the server's answer")?;
        if let Some(count) = answer.get("count") {
            return Ok(Answer::Count(count.as_u64().context("a count not a u64")?));
        }
        let records = answer["records"]
            .as_array()
            .context("an answer without records")?;
        let ids = records
            .iter()
            .map(|r| r["_id"].as_u64().context("a record without an _id"))
            .collect::<Result<Vec<u64>>>()?;
        Ok(Answer::Ids(ids))
    }

    fn explain(&mut self, query: &Query) -> Result<Option<String>> {
        let (status, bytes) = self.server.post(&self.server.explain_url, query)?;
        Ok(Some(format!(
            "{status}: {}",
            String::from_utf8_lossy(&bytes)
        )))
    }
}
