//! `nyrodb serve`: config file, then environment, then flags; serve until SIGINT/SIGTERM.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use nyro_core::OpenOptions;
use nyro_core::config::DEFAULT_CONFIG_PATH;
use nyro_server::{Server, ServerConfig, shutdown_signal};
use nyro_storage::FailSyncWhen;

use crate::cli::ServeArgs;

/// Loads the configuration the way the contract says: defaults < file < env < flags, then
/// checks what relates keys (a cluster node's secret, its bootstrap entry, ...) on the
/// result, naming the file.
pub fn load_config(args: &ServeArgs) -> anyhow::Result<ServerConfig> {
    let schema = ServerConfig::schema();
    let mut config = schema.load_with_env(args.config.as_deref())?;
    if let Some(data) = &args.data {
        schema.set_override(
            &mut config,
            "--data",
            "storage.path",
            &data.to_string_lossy(),
        )?;
    }
    let flags = [
        ("--listen", "server.listen", &args.listen),
        ("--node-id", "cluster.node_id", &args.node_id),
        ("--advertise", "cluster.advertise", &args.advertise),
        ("--bootstrap", "cluster.bootstrap", &args.bootstrap),
    ];
    for (flag, key, value) in flags {
        if let Some(value) = value {
            schema.set_override(&mut config, flag, key, value)?;
        }
    }
    let file = match args.config.as_deref() {
        Some(file) => file.display().to_string(),
        None if Path::new(DEFAULT_CONFIG_PATH).exists() => DEFAULT_CONFIG_PATH.to_owned(),
        None => format!("defaults (there is no {DEFAULT_CONFIG_PATH})"),
    };
    let source = format!("{file} with the NYRODB_* environment and the flags");
    schema.validate(&config, &source)?;
    Ok(config)
}

/// The database's options: the OS's I/O, or (`--fail-fsync-when`, fault-injection tests
/// only) I/O whose syncs fail while the trigger file exists.
fn open_options(args: &ServeArgs) -> OpenOptions {
    let mut options = OpenOptions::default();
    if let Some(trigger) = &args.fail_fsync_when {
        tracing::warn!(trigger = %trigger.display(),
            "fault injection on: every sync of the data directory fails while the trigger file exists");
        options.io = Arc::new(FailSyncWhen::new(options.io, trigger));
    }
    options
}

/// Runs the server until a shutdown signal.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = load_config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let server = Server::bind_with(config, open_options(&args)).await?;
        server.run(shutdown_signal()).await?;
        anyhow::Ok(())
    })
}
