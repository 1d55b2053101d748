//! `nyrodb serve`: config file, then environment, then flags; serve until SIGINT/SIGTERM.

use anyhow::Context;
use nyro_core::Config;
use nyro_server::{Server, shutdown_signal};

use crate::cli::ServeArgs;

/// Loads the configuration the way the contract says: defaults < file < env < flags.
pub fn load_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let mut config = Config::load_with_env(args.config.as_deref())?;
    if let Some(data) = &args.data {
        config.set_override("--data", "storage.path", &data.to_string_lossy())?;
    }
    if let Some(listen) = &args.listen {
        config.set_override("--listen", "server.listen", listen)?;
    }
    Ok(config)
}

/// Runs the server until a shutdown signal.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = load_config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let server = Server::bind(config).await?;
        server.run(shutdown_signal()).await?;
        anyhow::Ok(())
    })
}
