//! `nyrodb put C ID JSON`: PUT /v1/collections/{c}/records/{id}.

use reqwest::Method;

use crate::cli::PutArgs;
use crate::http::{call, json_argument, segment};
use crate::output::print_json;

/// Prints `{"_id", "seq", "created"}`.
pub fn run(args: PutArgs) -> anyhow::Result<()> {
    let body = json_argument(&args.json)?;
    let mut path = format!(
        "/v1/collections/{}/records/{}",
        segment(&args.collection),
        args.id
    );
    if args.sync {
        path.push_str("?sync=true");
    }
    let answer = call(&args.client, Method::PUT, &path, Some(body))?;
    print_json(&answer)?;
    Ok(())
}
