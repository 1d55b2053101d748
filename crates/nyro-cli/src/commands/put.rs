//! `nyrodb put C ID JSON`: PUT /v1/collections/{c}/records/{id}.

use reqwest::Method;

use crate::cli::PutArgs;
use crate::http::{call, json_argument, record_path};
use crate::output::print_json;

/// Prints `{"_id", "seq", "created"}`.
pub fn run(args: PutArgs) -> anyhow::Result<()> {
    let body = json_argument(&args.json)?;
    let path = record_path(&args.collection, args.id, args.sync);
    let answer = call(&args.client, Method::PUT, &path, Some(body))?;
    print_json(&answer)?;
    Ok(())
}
