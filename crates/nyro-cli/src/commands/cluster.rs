//! `nyrodb cluster status | add ID ADDR | remove ID`: the membership routes of contract
//! section 7 (GET /v1/cluster, POST /v1/cluster/members, DELETE /v1/cluster/members/{id}).

use reqwest::Method;

use crate::cli::{ClusterArgs, ClusterCommand};
use crate::http::call;
use crate::output::print_json;

/// Sends the request and prints the server's answer (nothing for an empty one).
pub fn run(args: ClusterArgs) -> anyhow::Result<()> {
    let answer = match args.command {
        ClusterCommand::Status(args) => call(&args.client, Method::GET, "/v1/cluster", None)?,
        ClusterCommand::Add(args) => {
            let body = serde_json::json!({"id": args.id, "addr": args.addr});
            call(
                &args.client,
                Method::POST,
                "/v1/cluster/members",
                Some(serde_json::to_vec(&body)?),
            )?
        }
        ClusterCommand::Remove(args) => {
            let path = format!("/v1/cluster/members/{}", args.id);
            call(&args.client, Method::DELETE, &path, None)?
        }
    };
    if !answer.trim().is_empty() {
        print_json(&answer)?;
    }
    Ok(())
}
