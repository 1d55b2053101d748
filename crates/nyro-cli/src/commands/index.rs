//! `nyrodb index add|drop C PATH`: an index added or dropped online on a running server
//! (POST /v1/collections/{c}/_indexes, DELETE /v1/collections/{c}/_indexes/{path}).

use reqwest::Method;

use crate::cli::{IndexArgs, IndexCommand};
use crate::http::{call, segment};
use crate::output::print_json;

/// Sends the request and prints the server's answer (nothing for a drop's empty one).
pub fn run(args: IndexArgs) -> anyhow::Result<()> {
    let answer = match args.command {
        IndexCommand::Add(args) => {
            let mut path = format!("/v1/collections/{}/_indexes", segment(&args.collection));
            if args.sync {
                path.push_str("?sync=true");
            }
            let body = serde_json::json!({"path": args.path});
            call(
                &args.client,
                Method::POST,
                &path,
                Some(serde_json::to_vec(&body)?),
            )?
        }
        IndexCommand::Drop(args) => {
            let mut path = format!(
                "/v1/collections/{}/_indexes/{}",
                segment(&args.collection),
                segment(&args.path)
            );
            if args.sync {
                path.push_str("?sync=true");
            }
            call(&args.client, Method::DELETE, &path, None)?
        }
    };
    if !answer.trim().is_empty() {
        print_json(&answer)?;
    }
    Ok(())
}
