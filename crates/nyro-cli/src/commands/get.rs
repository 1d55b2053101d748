//! `nyrodb get C ID`: GET /v1/collections/{c}/records/{id}.

use reqwest::Method;

use crate::cli::GetArgs;
use crate::http::{call, record_path};
use crate::output::print_json;

/// Prints the document.
pub fn run(args: GetArgs) -> anyhow::Result<()> {
    let path = record_path(&args.collection, args.id, false);
    let answer = call(&args.client, Method::GET, &path, None)?;
    print_json(&answer)?;
    Ok(())
}
