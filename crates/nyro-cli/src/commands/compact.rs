//! `nyrodb compact --data DIR`: rewrite every segment that holds dead records (replaced,
//! deleted or dropped documents), then print what it reclaimed. Offline: it refuses a
//! directory a running server holds (use `POST /v1/_compact` on the server instead).

use crate::cli::DataArgs;
use crate::offline::{self, existing_data_dir};
use crate::output::human_bytes;

/// Compacts the data directory.
pub fn run(args: DataArgs) -> anyhow::Result<()> {
    existing_data_dir(&args.data)?;
    let mut config = offline::config(&args.data, None)?;
    // This command is the compaction; no background one besides it.
    config.compaction.auto = false;
    offline::runtime()?.block_on(async {
        let db = offline::open(&config).await?;
        let summary = db.compact().await?;
        db.close().await?;
        if summary.segments_rewritten == 0 {
            println!(
                "nothing to compact in {}: no segment holds dead records",
                args.data.display()
            );
        } else {
            println!(
                "compacted {} segment(s) in {}: {} -> {} (reclaimed {})",
                summary.segments_rewritten,
                args.data.display(),
                human_bytes(summary.bytes_before),
                human_bytes(summary.bytes_after),
                human_bytes(summary.bytes_before.saturating_sub(summary.bytes_after)),
            );
        }
        anyhow::Ok(())
    })
}
