//! What the offline commands share: checking the data directory they are given, a runtime,
//! and opening the database in it (which takes the directory lock, so a directory that a
//! running server holds is refused with a message naming it).

use std::path::Path;

use anyhow::{Context, bail};
use nyro_core::{Config, Database, DbError};
use nyro_storage::StorageError;

/// Fails unless `dir` is an existing directory holding NyroDB segment files.
pub fn existing_data_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        bail!(
            "data directory {} does not exist; pass the directory the server uses \
             (its storage.path) with --data",
            dir.display()
        );
    }
    if !dir.is_dir() {
        bail!(
            "{} is not a directory; pass the server's data directory (its storage.path) \
             with --data",
            dir.display()
        );
    }
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    let has_segment = entries.filter_map(Result::ok).any(|entry| {
        entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with("segment-") && name.ends_with(".log"))
    });
    if !has_segment {
        bail!(
            "{} holds no NyroDB segment files (segment-NNNNNNNNNN.log); is it the server's \
             data directory (its storage.path)?",
            dir.display()
        );
    }
    Ok(())
}

/// A single-threaded runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The config an offline command opens `dir` with: the defaults, or `file` if given (with
/// the environment's overrides, as `serve` reads it), with storage.path set to `dir`.
pub fn config(dir: &Path, file: Option<&Path>) -> anyhow::Result<Config> {
    let mut config = match file {
        // The whole file (the server's keys too), of which the database's part is used.
        Some(file) => {
            nyro_server::ServerConfig::schema()
                .load_with_env(Some(file))?
                .db
        }
        None => Config::default(),
    };
    config.storage.path = dir.to_path_buf();
    Ok(config)
}

/// Opens the database `config` describes, for an offline command.
pub async fn open(config: &Config) -> anyhow::Result<Database> {
    Database::open(config).await.map_err(|e| match e {
        // These messages already name the directory (or file) and what to do.
        DbError::Storage(e @ (StorageError::Locked { .. } | StorageError::Corrupt { .. })) => {
            anyhow::Error::new(e)
        }
        e => anyhow::Error::new(e).context(format!(
            "cannot open the data directory {}",
            config.storage.path.display()
        )),
    })
}
