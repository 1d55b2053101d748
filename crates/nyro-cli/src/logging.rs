//! Log output: `RUST_LOG` picks the level (default: `info` for the server, `warn` for the
//! other commands, with `openraft` at `warn` in both), `--log-format` the shape. Logs go to
//! stderr, never into command output.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// The filter used when `RUST_LOG` is unset (or unreadable): `default_level` for
/// everything but `openraft`, which logs every vote, election and membership step at
/// `info`; at `warn` a cluster node's log keeps only what needs attention. `RUST_LOG`
/// replaces the whole filter (`RUST_LOG=info,openraft=info` brings those lines back).
fn default_filter(default_level: &str) -> EnvFilter {
    EnvFilter::new(format!("{default_level},openraft=warn"))
}

/// Installs the global subscriber.
pub fn init(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[cfg(test)]
mod tests {
    use tracing::Level;
    use tracing_subscriber::layer::SubscriberExt;

    use super::default_filter;

    /// Whether an event at `level` with `target` passes `default_filter(default_level)`.
    fn passes(default_level: &str, target_is_openraft: bool, level: Level) -> bool {
        let subscriber = tracing_subscriber::registry().with(default_filter(default_level));
        tracing::subscriber::with_default(subscriber, || {
            // `enabled!` needs its target and level as constants: one callsite per case.
            match (target_is_openraft, level) {
                (true, Level::INFO) => tracing::enabled!(target: "openraft::engine", Level::INFO),
                (true, Level::WARN) => tracing::enabled!(target: "openraft::engine", Level::WARN),
                (false, Level::INFO) => tracing::enabled!(target: "nyro_server", Level::INFO),
                (false, Level::WARN) => tracing::enabled!(target: "nyro_server", Level::WARN),
                _ => unreachable!("only INFO and WARN are asked"),
            }
        })
    }

    #[test]
    fn the_server_default_keeps_info_but_puts_openraft_at_warn() {
        assert!(passes("info", false, Level::INFO));
        assert!(!passes("info", true, Level::INFO));
        assert!(passes("info", true, Level::WARN));
    }

    #[test]
    fn the_commands_default_stays_at_warn() {
        assert!(!passes("warn", false, Level::INFO));
        assert!(passes("warn", false, Level::WARN));
        assert!(!passes("warn", true, Level::INFO));
        assert!(passes("warn", true, Level::WARN));
    }
}
