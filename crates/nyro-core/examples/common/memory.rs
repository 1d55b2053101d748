//! What the benchmarks measure of the process's memory. Included by each example that
//! reports it with `#[path = "common/memory.rs"] mod memory;`.

/// A field of `/proc/self/status` in KiB (0 if unreadable): `"RssAnon:"` is the heap
/// (anonymous resident memory, leaving out the log's mapped file pages), `"VmHWM:"` the
/// peak resident set.
pub fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
