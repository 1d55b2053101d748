//! `nyrodb delete C ID`: DELETE /v1/collections/{c}/records/{id}.

use reqwest::Method;

use crate::cli::DeleteArgs;
use crate::http::{call, record_path};
use crate::output::print_json;

/// Deletes; the server answers 204 with no body, so nothing is printed on success.
pub fn run(args: DeleteArgs) -> anyhow::Result<()> {
    let path = record_path(&args.collection, args.id, args.sync);
    let answer = call(&args.client, Method::DELETE, &path, None)?;
    if !answer.trim().is_empty() {
        print_json(&answer)?;
    }
    Ok(())
}
