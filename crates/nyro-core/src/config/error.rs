//! [`ConfigError`]: every way loading the configuration can fail, each naming the file,
//! variable or flag, the key, and what is allowed.

use std::path::PathBuf;

/// Why a configuration could not be loaded. Every message says what failed, where (file and
/// key, or environment variable, or flag) and what is allowed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A config file named explicitly (`--config`) does not exist.
    #[error(
        "config file {} does not exist; check the --config path, or leave --config out to use \
         ./nyrodb.toml if present and the built-in defaults otherwise",
        path.display()
    )]
    NotFound {
        /// The file that was asked for.
        path: PathBuf,
    },
    /// The config file exists but could not be read.
    #[error(
        "cannot read config file {}: {source}; it must be a readable UTF-8 text file",
        path.display()
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error(
        "config file {file}, line {line}, column {column}: not valid TOML: {message}; fix the \
         syntax (the commented nyrodb.toml shows every key)"
    )]
    Syntax {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the TOML parser said.
        message: String,
    },
    /// A key is unknown, or its value has the wrong type.
    #[error("config file {file}{}: key `{key}`: {message}", fmt_at(*.line, *.column))]
    Parse {
        /// The file.
        file: String,
        /// The key's full path, e.g. `batch.sync` or `collections[0].name`.
        key: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A value has the right type but is out of range (or a collection entry is invalid).
    #[error("config {source_name}{}: key `{key}`: {message}", fmt_at(*.line, *.column))]
    Invalid {
        /// Where the config came from, usually the file name.
        source_name: String,
        /// The key's full path, e.g. `storage.segment_size_mb`.
        key: String,
        /// 1-based line in the file, when known.
        line: Option<usize>,
        /// 1-based column in the file, when known.
        column: Option<usize>,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// An environment variable is not a known key, or its value is bad.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable, e.g. `NYRODB_BATCH_SYNC`.
        var: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A command-line override is bad.
    #[error("{origin}: key `{key}`: {message}")]
    Override {
        /// Where the override came from, e.g. `--listen`.
        origin: String,
        /// The key it sets, e.g. `server.listen`.
        key: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}

fn fmt_at(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(", line {l}, column {c}"),
        (Some(l), None) => format!(", line {l}"),
        _ => String::new(),
    }
}
