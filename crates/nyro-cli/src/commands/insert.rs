//! `nyrodb insert C JSON`: POST /v1/collections/{c}/records.

use reqwest::Method;

use crate::cli::InsertArgs;
use crate::http::{call, json_argument, segment};
use crate::output::print_json;

/// Prints `{"_id", "seq"}`.
pub fn run(args: InsertArgs) -> anyhow::Result<()> {
    let body = json_argument(&args.json)?;
    let mut path = format!("/v1/collections/{}/records", segment(&args.collection));
    if args.sync {
        path.push_str("?sync=true");
    }
    let answer = call(&args.client, Method::POST, &path, Some(body))?;
    print_json(&answer)?;
    Ok(())
}
