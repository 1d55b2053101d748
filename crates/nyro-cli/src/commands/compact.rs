//! `nyrodb compact --data DIR`: not in this version. It says so and exits 1, after the
//! same checks as the other offline commands (so a held directory is refused as such).

use anyhow::bail;

use crate::cli::DataArgs;
use crate::offline::existing_data_dir;

/// Refuses: compaction comes in a later version.
pub fn run(args: DataArgs) -> anyhow::Result<()> {
    existing_data_dir(&args.data)?;
    // Refuse a directory a running server holds with the storage layer's own message.
    drop(nyro_storage::DirLock::acquire(&args.data)?);
    bail!(
        "compaction is not available in this version of nyrodb; nothing in {} was changed. \
         Dead records only cost disk space: `nyrodb stats --data {}` shows how much",
        args.data.display(),
        args.data.display()
    )
}
