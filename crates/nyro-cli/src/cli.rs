//! The command line, as clap sees it. Every flag's doc comment is its `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod query;

pub use query::{QueryArgs, parse_condition};

/// Where client commands look for the server when neither `--url` nor `NYRODB_URL` is given.
pub const DEFAULT_URL: &str = "http://127.0.0.1:7070";

const AFTER_HELP: &str = "\
Exit codes: 0 success; 1 a failure you can act on (the message on stderr says what and what to \
do); 2 a usage error.

Offline commands (--data DIR) open the data directory themselves and refuse one that a running \
server holds. Client commands talk to a running server (--url, NYRODB_URL; --token, \
NYRODB_TOKEN; --ca-cert, NYRODB_CA_CERT for an https:// server with a self-signed certificate). See docs/CLI.md for examples.";

/// NyroDB: a document database with an HTTP and WebSocket API.
#[derive(Debug, Parser)]
#[command(name = "nyrodb", version, propagate_version = true, after_help = AFTER_HELP)]
pub struct Cli {
    /// Log format: human-readable text, or one JSON object per line (logs go to stderr).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "NYRODB_LOG_FORMAT")]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (HTTP and WebSocket API) until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Check every frame of every segment of a data directory; exit 1 and list each damaged
    /// place (segment file, offset, severity, what is wrong) if any is corrupt.
    Verify(DataArgs),
    /// Rewrite segments, dropping dead records (replaced, deleted or dropped documents);
    /// prints what it reclaimed (offline: a running server compacts with POST /v1/_compact).
    Compact(DataArgs),
    /// Counts and sizes, human-readable: of a data directory (offline) or of a running server.
    Stats(StatsArgs),
    /// Write a consistent backup: of a running server (--url; the server writes --out on its
    /// own machine, under its server.backup_root) or of a data directory (--data, offline).
    Backup(BackupArgs),
    /// Check a backup's manifest and restore it into a new or empty data directory; refuses
    /// (exit 1, naming the file) a damaged backup.
    Restore(RestoreArgs),
    /// After corruption (verify reports it, the server refuses to start): keep every intact
    /// frame, move each damaged byte range to DIR/lost+found (described in REPORT.json) and
    /// leave a directory that opens. A healthy directory is left as it is.
    #[command(after_help = "\
Stop the server first: repair refuses a directory that a running server holds. Keep a copy of \
the data directory before repairing. Records in the damaged ranges are lost (REPORT.json names \
the intact records around each range, by collection, id and seq); every other record is kept \
byte for byte. Running it again on the repaired directory changes nothing. See \
docs/OPERATIONS.md.")]
    Repair(DataArgs),
    /// Write documents as NDJSON, one per line with `_id` (offline).
    Export(ExportArgs),
    /// Insert documents from NDJSON or a JSON array, all or nothing per batch (offline).
    Import(ImportArgs),
    /// Print one document of a running server.
    Get(GetArgs),
    /// Insert one document into a running server; prints `{"_id", "seq"}`.
    Insert(InsertArgs),
    /// Replace (or create) the document with an id on a running server.
    Put(PutArgs),
    /// Delete one document on a running server (prints nothing on success).
    Delete(DeleteArgs),
    /// Find documents on a running server: a filter (JSON, or FIELD=VALUE equalities), sort,
    /// fields, pages, a count, or the plan (--explain).
    Query(QueryArgs),
    /// Print the change feed of a running server as NDJSON until interrupted.
    Watch(WatchArgs),
    /// Add or drop an index of a collection on a running server, online.
    Index(IndexArgs),
    /// A cluster's membership, asked of any of its nodes: status, add a node, remove one.
    Cluster(ClusterArgs),
    /// Print a shell completion script for bash, zsh, fish, elvish or powershell.
    Completions(CompletionsArgs),
}

/// `nyrodb serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config file; a missing ./nyrodb.toml means the defaults, a missing explicit file is an
    /// error.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides storage.path).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:7070 (overrides server.listen).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// This node's id in a cluster, 1 or more; 0 runs standalone (overrides cluster.node_id).
    #[arg(long, value_name = "ID")]
    pub node_id: Option<String>,
    /// Where other nodes and clients reach this node, HOST:PORT (overrides
    /// cluster.advertise; default server.listen).
    #[arg(long, value_name = "HOST:PORT")]
    pub advertise: Option<String>,
    /// The initial voters of a new cluster, comma-separated ID@HOST:PORT, this node included
    /// (overrides cluster.bootstrap). The shared secret is read from the file or
    /// NYRODB_CLUSTER_SECRET only, never from a flag.
    #[arg(long, value_name = "ID@HOST:PORT,...")]
    pub bootstrap: Option<String>,
    /// For fault-injection tests only: every fdatasync, fsync and directory fsync of the
    /// data directory (log and Raft state) fails with EIO while the file PATH exists.
    #[arg(long, value_name = "PATH", hide = true)]
    pub fail_fsync_when: Option<PathBuf>,
}

/// A data directory, for the offline commands.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// The data directory (storage.path of the server's config). It must exist and no
    /// running server may hold it.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
}

/// Where a command that works either offline or online works: a data directory or a
/// running server. The command's own struct requires exactly one of `--data` and `--url`.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// The data directory to work on offline (no running server may hold it).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The running server to ask instead, e.g. http://127.0.0.1:7070 (or https:// for a
    /// server with TLS). NYRODB_URL is not read here: say which of --data and --url you mean.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    #[command(flatten)]
    pub access: AccessArgs,
}

/// `--token` and `--ca-cert`: how every command that talks to a server gets in.
#[derive(Debug, Args)]
pub struct AccessArgs {
    /// Bearer token for a server with auth_token set.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "NYRODB_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// A PEM file of certificates to trust for an https:// server, besides the public
    /// certificate authorities: the server's self-signed certificate, or the private CA that
    /// signed it.
    #[arg(long, value_name = "FILE", env = "NYRODB_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

/// `nyrodb stats`: exactly one of `--data` and `--url` (GET /v1/stats).
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("source").required(true).multiple(false).args(["data", "url"]))]
pub struct StatsArgs {
    /// Offline or online.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Print the stats as JSON (the shape of GET /v1/stats) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `nyrodb backup`: exactly one of `--data` and `--url`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("source").required(true).multiple(false).args(["data", "url"]))]
#[command(after_help = "\
A backup is a consistent cut: every write acknowledged before it started is in it, none \
half-written; writes go on meanwhile. It holds the sealed segment files (hard links when \
possible, else copies) and MANIFEST.json with each file's size and CRC-32C. With --url the \
server writes --out on its own machine: the directory must lie under the server's \
server.backup_root (HTTP backups are off without it), and a relative --out is taken relative \
to that root. Restore with `nyrodb restore --from DIR --data DIR`.")]
pub struct BackupArgs {
    /// Offline (`--data`) or online (`--url`: the server backs itself up, POST /v1/_backup).
    #[command(flatten)]
    pub source: SourceArgs,
    /// The backup directory to write (created; refused if it exists and is not empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// `nyrodb restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup directory (holding MANIFEST.json).
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// The data directory to restore into (created; refused if it exists and is not empty).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
}

/// `nyrodb export`.
#[derive(Debug, Args)]
#[command(after_help = "\
With --collection, each line is one document of that collection with its _id, as mongoexport \
writes it: {\"_id\":1,\"name\":\"Ada\"}. Without it, every collection is exported (by name, \
each by ascending _id), and each line wraps the document with its collection's name so that \
no field of yours is touched: {\"collection\":\"users\",\"doc\":{\"_id\":1,\"name\":\"Ada\"}}. \
`nyrodb import` without --collection reads that form back. Empty collections and index \
definitions are not exported.")]
pub struct ExportArgs {
    /// The data directory to read (no running server may hold it).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Export only this collection, one plain document per line. Without it, every collection,
    /// one {"collection": NAME, "doc": DOCUMENT} per line.
    #[arg(long, short = 'c', value_name = "NAME")]
    pub collection: Option<String>,
    /// Write to this file (replaced if it exists; written whole or not at all) instead of
    /// standard output. Shows a progress bar when stderr is a terminal.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `nyrodb import`.
#[derive(Debug, Args)]
#[command(after_help = "\
FILE holds NDJSON (one JSON object per line; blank lines are skipped) or one JSON array of \
objects; the first non-blank byte tells which. A document's _id, if present, is kept; without \
one the next id of the collection is assigned. Documents are inserted in batches, each all or \
nothing: on the first bad record (bad JSON, not an object, too deep, an _id that exists or \
repeats) nyrodb names its line (or array element), writes nothing of that batch, says how many \
documents earlier batches imported, and exits 1.

Without --collection, FILE must be what `nyrodb export` writes without --collection: lines of \
{\"collection\": NAME, \"doc\": DOCUMENT}.")]
pub struct ImportArgs {
    /// The data directory to write (created if missing; no running server may hold it).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The collection to insert into (created if missing). Without it, FILE must be an export
    /// of all collections.
    #[arg(long, short = 'c', value_name = "NAME")]
    pub collection: Option<String>,
    /// Index this top-level field when the collection is created (repeat for more). Use the
    /// indexes the server's config declares for the collection, or it will refuse to start.
    #[arg(long = "index", value_name = "FIELD", requires = "collection")]
    pub indexes: Vec<String>,
    /// Create the collections this config file declares (with their indexes) before
    /// importing, as `nyrodb serve --config FILE` would. Its storage.path is replaced by --data.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Documents per batch; each batch is written all or nothing.
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_size: u32,
    /// The file to read: NDJSON or a JSON array; `-` reads standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Where the server is, for the client commands.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The server's base URL: http://, or https:// for a server with TLS (see --ca-cert).
    #[arg(long, value_name = "URL", env = "NYRODB_URL", default_value = DEFAULT_URL)]
    pub url: String,
    #[command(flatten)]
    pub access: AccessArgs,
}

/// `nyrodb get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The collection.
    #[arg(value_name = "COLLECTION")]
    pub collection: String,
    /// The document's _id (a whole number).
    #[arg(value_name = "ID")]
    pub id: u64,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `nyrodb insert`.
#[derive(Debug, Args)]
pub struct InsertArgs {
    /// The collection (created if missing).
    #[arg(value_name = "COLLECTION")]
    pub collection: String,
    /// The document: a JSON object, `_id` optional; `-` reads it from standard input.
    #[arg(value_name = "JSON")]
    pub json: String,
    /// Answer only after the write was fdatasync'ed (?sync=true).
    #[arg(long)]
    pub sync: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `nyrodb put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    /// The collection (created if missing).
    #[arg(value_name = "COLLECTION")]
    pub collection: String,
    /// The document's _id (a whole number).
    #[arg(value_name = "ID")]
    pub id: u64,
    /// The whole new document: a JSON object; `-` reads it from standard input.
    #[arg(value_name = "JSON")]
    pub json: String,
    /// Answer only after the write was fdatasync'ed (?sync=true).
    #[arg(long)]
    pub sync: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `nyrodb delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The collection.
    #[arg(value_name = "COLLECTION")]
    pub collection: String,
    /// The document's _id (a whole number).
    #[arg(value_name = "ID")]
    pub id: u64,
    /// Answer only after the write was fdatasync'ed (?sync=true).
    #[arg(long)]
    pub sync: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `nyrodb watch`.
#[derive(Debug, Args)]
#[command(after_help = "\
Each line is one change: {\"seq\",\"op\":\"insert\"/\"update\"/\"delete\",\"collection\",\"_id\",\"doc\"}. \
Interrupt with Ctrl-C (exit 0). If the server cuts the feed (a consumer that fell behind, or a \
shutdown), the reason goes to stderr with the --since to resume from, and nyrodb exits 1.")]
pub struct WatchArgs {
    /// Only this collection's changes (default: every collection).
    #[arg(value_name = "COLLECTION")]
    pub collection: Option<String>,
    /// First replay every retained change after this seq, then follow live changes (no gap,
    /// no duplicate). Without it, live changes only.
    #[arg(long, value_name = "SEQ")]
    pub since: Option<u64>,
    /// Stop (exit 0) after printing this many changes.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `nyrodb index`.
#[derive(Debug, Args)]
#[command(after_help = "\
Each subcommand prints the server's JSON answer (nothing for a drop) and on an error answer \
prints its message on stderr and exits 1. An added index is built from the stored documents \
in the background; `nyrodb stats --url` and GET /v1/collections list it under `building` until \
queries use it. See docs/CLI.md.")]
pub struct IndexArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: IndexCommand,
}

/// The subcommands of `nyrodb index`.
#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Add an index on a path (POST /v1/collections/{c}/_indexes); prints
    /// `{"collection", "path", "state"}`.
    Add(IndexPathArgs),
    /// Drop the index on a path (DELETE /v1/collections/{c}/_indexes/{path}).
    Drop(IndexPathArgs),
}

/// `nyrodb index add|drop C PATH`.
#[derive(Debug, Args)]
pub struct IndexPathArgs {
    /// The collection.
    #[arg(value_name = "COLLECTION")]
    pub collection: String,
    /// The indexed path: field names separated by dots, e.g. address.city.
    #[arg(value_name = "PATH")]
    pub path: String,
    /// Answer only after the write was fdatasync'ed (?sync=true).
    #[arg(long)]
    pub sync: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `nyrodb cluster`.
#[derive(Debug, Args)]
#[command(after_help = "\
Each subcommand asks one node (--url; any node of the cluster, a follower passes membership \
changes to the leader), prints the server's JSON answer on stdout, and on an error answer \
prints its message on stderr and exits 1. add and remove return once the change is committed; \
add first makes the node a learner that catches up (from a snapshot if need be), then a voter. \
See docs/CLI.md.")]
pub struct ClusterArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ClusterCommand,
}

/// The subcommands of `nyrodb cluster`.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Print GET /v1/cluster: this node's id, the leader's (null while none is known), the
    /// term, the commit and applied indexes, and every member with its role and match index.
    Status(ClusterStatusArgs),
    /// Add a node (POST /v1/cluster/members): started with the same cluster.secret and an
    /// empty cluster.bootstrap, it catches up as a learner, then votes.
    Add(ClusterAddArgs),
    /// Remove a node (DELETE /v1/cluster/members/ID); it is no longer listed once the change
    /// is committed.
    Remove(ClusterRemoveArgs),
}

/// `nyrodb cluster status`.
#[derive(Debug, Args)]
pub struct ClusterStatusArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `nyrodb cluster add`.
#[derive(Debug, Args)]
pub struct ClusterAddArgs {
    /// The new node's cluster.node_id (1 or more, not in use).
    #[arg(value_name = "ID", value_parser = clap::value_parser!(u64).range(1..))]
    pub id: u64,
    /// Where the other nodes reach it, HOST:PORT (its cluster.advertise), e.g. 10.0.0.4:7070.
    #[arg(value_name = "ADDR", value_parser = parse_addr)]
    pub addr: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `nyrodb cluster remove`.
#[derive(Debug, Args)]
pub struct ClusterRemoveArgs {
    /// The cluster.node_id of the node to remove.
    #[arg(value_name = "ID", value_parser = clap::value_parser!(u64).range(1..))]
    pub id: u64,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Checks a node address, `HOST:PORT`, as `[cluster]` does.
fn parse_addr(raw: &str) -> Result<String, String> {
    nyro_raft::config::check_addr(raw).map_err(|e| e.to_string())?;
    Ok(raw.to_owned())
}

/// `nyrodb completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
