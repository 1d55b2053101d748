//! Read-only memory maps of segment files. This is the only module of NyroDB with `unsafe`.
//!
//! A segment is mapped once, `MAP_SHARED` and read-only. The active segment is mapped with a
//! *reservation* longer than the file, so that frames appended later with `write` become
//! readable through the same map without remapping: on Linux a shared file mapping and
//! `write` go through one page cache, so bytes are visible through the map as soon as the
//! `write` call returns.
//!
//! The invariant that makes every access sound: **nothing reads a mapped byte at or beyond
//! the file's current length.** Pages past the end of a file raise SIGBUS when touched. The
//! crate upholds this because [`Mapping::bytes`] is only called by `Segment::readable`,
//! which cuts the slice at the segment's published end, and that end only moves forward
//! after a `write` has put the bytes in the file (and moves back only by the writer, before
//! truncating, for bytes no reader was ever told about).
//!
//! What happens if a file is changed under the map by another program (NyroDB's own
//! processes cannot: the data directory is locked): bytes overwritten in place are seen by
//! readers, and the checksum that every read verifies reports them as corrupt instead of
//! returning them; a file truncated under the map makes a later read of the cut pages raise
//! SIGBUS and the process dies. Do not edit or truncate segment files of a running database.

use std::fs::File;
use std::io;

/// A read-only shared mapping of `reserved` bytes of a file.
pub(crate) struct Mapping {
    map: memmap2::Mmap,
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapping")
            .field("reserved", &self.map.len())
            .finish()
    }
}

impl Mapping {
    /// Maps the first `reserved` bytes of `file`, which may be more than its length.
    #[expect(
        unsafe_code,
        reason = "mapping a file is unsafe; this is the one place it is done"
    )]
    pub(crate) fn new(file: &File, reserved: usize) -> io::Result<Self> {
        // SAFETY: `memmap2` requires that the mapped file is not modified or truncated by
        // anyone else while the map lives, or the slice it hands out could change or fault.
        // The data directory is locked by this process, so no other NyroDB process writes
        // the file; within the process, bytes are only appended past every location handed
        // out, and truncation only cuts bytes no reader was ever given (module docs).
        // Mapping beyond the end of the file is allowed by mmap(2); those pages are never
        // read while they lie past the file's end, see `bytes`.
        let map = unsafe { memmap2::MmapOptions::new().len(reserved).map(file)? };
        Ok(Self { map })
    }

    /// The bytes `[0, end)` of the mapping.
    ///
    /// `end` must not exceed the file's current length (module invariant); it is clamped to
    /// the reservation so that a wrong `end` can never reach past the map itself.
    pub(crate) fn bytes(&self, end: u64) -> &[u8] {
        let end = usize::try_from(end)
            .unwrap_or(usize::MAX)
            .min(self.map.len());
        &self.map[..end]
    }

    /// How many bytes are mapped (file bytes and reservation).
    pub(crate) fn reserved(&self) -> usize {
        self.map.len()
    }
}
