//! `nyrodb query C FIELD=VALUE...`: POST /v1/collections/{c}/_query.

use reqwest::Method;

use crate::cli::QueryArgs;
use crate::http::{call, segment};
use crate::output::{UsageError, print_json};

/// Prints `{"records": [...], "next": ID or null}`.
pub fn run(args: QueryArgs) -> anyhow::Result<()> {
    let mut conditions = serde_json::Map::new();
    for condition in args.conditions {
        if conditions.contains_key(&condition.field) {
            return Err(UsageError(format!(
                "field {:?} is given twice; each field may have one value",
                condition.field
            ))
            .into());
        }
        conditions.insert(condition.field, condition.value);
    }
    let mut body = serde_json::Map::new();
    body.insert("where".into(), conditions.into());
    if let Some(limit) = args.limit {
        body.insert("limit".into(), limit.into());
    }
    if let Some(after) = args.after {
        body.insert("after".into(), after.into());
    }
    let body = serde_json::to_vec(&body)?;
    let path = format!("/v1/collections/{}/_query", segment(&args.collection));
    let answer = call(&args.client, Method::POST, &path, Some(body))?;
    print_json(&answer)?;
    Ok(())
}
