//! The ceiling of the HTTP layer on this machine, for `scripts/bench-server.sh`: a minimal
//! axum server (same runtime, same axum) whose only route returns a small fixed JSON.
//!
//! Usage: http_ceiling ADDR

use axum::Router;
use axum::routing::get;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args().nth(1).ok_or("usage: http_ceiling ADDR")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let app = Router::new().route(
            "/",
            get(|| async {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    r#"{"_id":1,"name":"user-000000000001","city":"city-0001","score":7919}"#,
                )
            }),
        );
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        axum::serve(listener, app).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
