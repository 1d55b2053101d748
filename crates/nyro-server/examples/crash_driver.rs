//! The crash test of the real server, for `scripts/crash-test.sh`: starts `nyrodb serve` on
//! a free loopback port, drives concurrent writers (single inserts, `_bulk` inserts,
//! replaces, deletes), SIGKILLs the server at a random moment, restarts it on the same
//! directory and checks every acknowledged write; round after round. The driver itself is
//! `tests/crash/driver.rs`, shared with the short crash test of the test suite.
//!
//! Usage: crash_driver --nyrodb PATH [--rounds N] [--sync always|interval] [--writers N]
//!        [--kill-ms MIN-MAX] [--seed N] [--work DIR]
//!
//! Exits 0 if nothing acknowledged was lost, 1 on any loss, 2 on a usage or harness error.

#[path = "../tests/crash/driver.rs"]
mod driver;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

const USAGE: &str = "usage: crash_driver --nyrodb PATH [--rounds N] [--sync always|interval] \
                     [--writers N] [--kill-ms MIN-MAX] [--seed N] [--work DIR]";

struct Args {
    nyrodb: PathBuf,
    rounds: u32,
    sync: String,
    writers: u64,
    kill_ms: (u64, u64),
    seed: u64,
    work: Option<PathBuf>,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        nyrodb: PathBuf::new(),
        rounds: 20,
        sync: "always".into(),
        writers: 8,
        kill_ms: (200, 2000),
        seed: driver::clock_seed(),
        work: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--nyrodb" => args.nyrodb = value()?.into(),
            "--rounds" => args.rounds = value()?.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--sync" => args.sync = value()?,
            "--writers" => {
                args.writers = value()?.parse().map_err(|e| format!("--writers: {e}"))?;
            }
            "--kill-ms" => {
                let v = value()?;
                let (lo, hi) = v.split_once('-').ok_or("--kill-ms: expected MIN-MAX")?;
                args.kill_ms = (
                    lo.parse().map_err(|e| format!("--kill-ms: {e}"))?,
                    hi.parse().map_err(|e| format!("--kill-ms: {e}"))?,
                );
            }
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--work" => args.work = Some(value()?.into()),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if args.nyrodb.as_os_str().is_empty() {
        return Err("--nyrodb is required".into());
    }
    if !["always", "interval"].contains(&args.sync.as_str()) {
        return Err("--sync must be always or interval".into());
    }
    if args.writers == 0 || args.rounds == 0 || args.kill_ms.0 > args.kill_ms.1 {
        return Err("--writers and --rounds must be at least 1, --kill-ms MIN <= MAX".into());
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("crash_driver: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let temp;
    let work = match &args.work {
        Some(dir) => dir.clone(),
        None => match tempfile::tempdir() {
            Ok(dir) => {
                temp = dir;
                temp.path().to_path_buf()
            }
            Err(e) => {
                eprintln!("crash_driver: no temporary directory: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let options = driver::Options {
        rounds: args.rounds,
        sync: args.sync.clone(),
        writers: args.writers,
        kill_after: (
            Duration::from_millis(args.kill_ms.0),
            Duration::from_millis(args.kill_ms.1),
        ),
        seed: args.seed,
        data: work.join("data"),
        logs: work.join("logs"),
        verbose: true,
        compact: true,
        after_kill: None,
    };
    // The server runs in the work directory: a relative path would not find the binary.
    let nyrodb = match std::fs::canonicalize(&args.nyrodb) {
        Ok(path) => path,
        Err(e) => {
            eprintln!("crash_driver: {}: {e}", args.nyrodb.display());
            return ExitCode::from(2);
        }
    };
    let launch = move |data: &Path, addr: SocketAddr, sync: &str| {
        let mut command = Command::new(&nyrodb);
        // Only our settings: no config file from the working directory, no stray NYRODB_*.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("NYRODB_") {
                command.env_remove(name);
            }
        }
        command
            .arg("serve")
            .arg("--data")
            .arg(data)
            .arg("--listen")
            .arg(addr.to_string())
            .current_dir(data.parent().unwrap_or(data))
            .env("NYRODB_BATCH_SYNC", sync)
            .env("NYRODB_STORAGE_SEGMENT_SIZE_MB", "1")
            .env("NYRODB_LOG_FORMAT", "text")
            .env("RUST_LOG", "warn");
        command
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("crash_driver: no runtime: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "crash_driver: {} rounds, sync={}, {} writers, kill after {}-{} ms, seed {}, work {}",
        args.rounds,
        args.sync,
        args.writers,
        args.kill_ms.0,
        args.kill_ms.1,
        args.seed,
        work.display()
    );
    match runtime.block_on(driver::run(&options, &launch)) {
        Ok(figures) => {
            print!("{}", figures.summary(&options));
            if figures.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("crash_driver: the test could not run: {e}");
            ExitCode::from(2)
        }
    }
}
