//! `nyrodb serve`: config file, then environment, then flags; serve until SIGINT/SIGTERM.

use anyhow::Context;
use nyro_server::{Server, ServerConfig, shutdown_signal};

use crate::cli::ServeArgs;

/// Loads the configuration the way the contract says: defaults < file < env < flags.
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
    if let Some(listen) = &args.listen {
        schema.set_override(&mut config, "--listen", "server.listen", listen)?;
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
