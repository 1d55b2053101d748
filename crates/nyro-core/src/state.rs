//! State shared by readers and the writer thread.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use arc_swap::ArcSwap;
use nyro_storage::LogReader;
use tokio::sync::broadcast;

use crate::catalog::{Catalog, Collection};
use crate::damage::DamageLog;
use crate::error::{DbError, Result};
use crate::feed::ChangeEvent;

/// What readers see. Only the writer thread (through the applier) changes it, and only
/// after the change's bytes are in the log.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) catalog: ArcSwap<Catalog>,
    /// Highest committed (visible) sequence number.
    pub(crate) last_seq: AtomicU64,
    pub(crate) changes: broadcast::Sender<Arc<ChangeEvent>>,
    /// For reading old documents' index keys and for the change feed's replay.
    pub(crate) reader: LogReader,
    /// Damaged frames found since open (by reads and by the scrub).
    pub(crate) damage: Arc<DamageLog>,
}

impl State {
    pub(crate) fn new(
        reader: LogReader,
        catalog: Catalog,
        last_seq: u64,
        feed_capacity: usize,
    ) -> Self {
        let (changes, _) = broadcast::channel(feed_capacity);
        Self {
            catalog: ArcSwap::from_pointee(catalog),
            last_seq: AtomicU64::new(last_seq),
            changes,
            reader,
            damage: Arc::default(),
        }
    }

    pub(crate) fn collection(&self, name: &str) -> Result<Arc<Collection>> {
        self.catalog
            .load()
            .by_name(name)
            .cloned()
            .ok_or_else(|| DbError::CollectionNotFound {
                collection: name.to_string(),
            })
    }
}
