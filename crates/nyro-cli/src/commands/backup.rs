//! `nyrodb backup --url URL --out DIR | --data DIR --out DIR` and
//! `nyrodb restore --from DIR --data DIR`.

use std::time::Duration;

use anyhow::Context;
use reqwest::Method;

use crate::cli::{BackupArgs, RestoreArgs};
use crate::http::Client;
use crate::offline::{self, existing_data_dir};
use crate::output::human_bytes;

/// Longest a server may take to write a backup before the client gives up waiting (the
/// server goes on and finishes it).
const BACKUP_TIMEOUT: Duration = Duration::from_secs(3600);

/// Writes a backup, online or offline.
pub fn run(args: BackupArgs) -> anyhow::Result<()> {
    let (files, bytes, last_seq, path) = match (&args.source.data, &args.source.url) {
        (Some(data), _) => {
            existing_data_dir(data)?;
            let mut config = offline::config(data, None)?;
            config.compaction.auto = false;
            let manifest = offline::runtime()?.block_on(async {
                let db = offline::open(&config).await?;
                let manifest = db.backup(&args.out).await.with_context(|| {
                    format!(
                        "backing up {} into {} failed",
                        data.display(),
                        args.out.display()
                    )
                });
                db.close().await?;
                manifest
            })?;
            (
                manifest.files.len(),
                manifest.bytes(),
                manifest.last_seq,
                args.out.display().to_string(),
            )
        }
        (None, Some(url)) => {
            let client = Client::with_timeout(url, &args.source.access, BACKUP_TIMEOUT)?;
            let out = args
                .out
                .to_str()
                .with_context(|| format!("--out {} is not valid UTF-8", args.out.display()))?;
            let body = serde_json::to_vec(&serde_json::json!({ "path": out }))?;
            let text = offline::runtime()?.block_on(client.send(
                Method::POST,
                "/v1/_backup",
                Some(body),
            ))?;
            let answer: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!(
                    "the answer of {}/v1/_backup is not JSON ({e}); is --url a NyroDB server?",
                    client.base()
                )
            })?;
            let number = |key: &str| answer[key].as_u64().unwrap_or(0);
            (
                usize::try_from(number("files")).unwrap_or(usize::MAX),
                number("bytes"),
                number("last_seq"),
                answer["path"].as_str().unwrap_or(out).to_string(),
            )
        }
        // clap's group requires exactly one of them.
        (None, None) => anyhow::bail!("pass --data DIR or --url URL"),
    };
    println!(
        "backed up {files} segment file(s), {}, up to seq {last_seq}, into {path}",
        human_bytes(bytes)
    );
    Ok(())
}

/// Checks a backup and restores it.
pub fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let manifest = nyro_core::restore(&args.from, &args.data)?;
    println!(
        "restored {} segment file(s), {}, up to seq {}, from {} into {}",
        manifest.files.len(),
        human_bytes(manifest.bytes()),
        manifest.last_seq,
        args.from.display(),
        args.data.display()
    );
    Ok(())
}
