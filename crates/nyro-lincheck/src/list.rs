//! The history as a doubly linked list of call and return entries sorted by time, from which
//! the search unlinks ("lifts") an operation's two entries when it linearizes the operation
//! and relinks them, in reverse order, when it backtracks.

use crate::model::Operation;

/// The index of the sentinel entry before the first one.
pub(crate) const HEAD: usize = 0;
/// "No entry": the end of the list.
pub(crate) const NIL: usize = usize::MAX;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    /// The operation's index in the history.
    pub op: usize,
    /// For a call entry, the index of its return entry; `NIL` for a return entry.
    pub ret: usize,
    pub prev: usize,
    pub next: usize,
}

impl Entry {
    pub fn is_call(&self) -> bool {
        self.ret != NIL
    }
}

/// Call and return entries of a history, linked in time order.
pub(crate) struct EntryList {
    entries: Vec<Entry>,
}

/// Where an entry sorts: by time; at equal times calls before returns (so two operations that
/// touch at one instant are concurrent); unknown returns after everything.
fn sort_key<I, O>(op: &Operation<I, O>, is_call: bool) -> (u64, u8) {
    match (is_call, op.ret) {
        (true, _) => (op.call, 0),
        (false, Some(ret)) => (ret, 1),
        (false, None) => (u64::MAX, 2),
    }
}

impl EntryList {
    /// The entries of the operations of `history` not marked in `left_out`, linked in time
    /// order. Return times must not be before call times (the caller checks).
    pub fn new<I, O>(history: &[Operation<I, O>], left_out: &[bool]) -> Self {
        // (sort key, operation, is_call); ties broken by operation index for determinism.
        let mut order: Vec<((u64, u8), usize, bool)> = Vec::with_capacity(history.len() * 2);
        for (i, op) in history.iter().enumerate() {
            if left_out.get(i).copied().unwrap_or(false) {
                continue;
            }
            order.push((sort_key(op, true), i, true));
            order.push((sort_key(op, false), i, false));
        }
        order.sort_unstable();
        let mut entries = Vec::with_capacity(order.len() + 1);
        entries.push(Entry {
            op: NIL,
            ret: NIL,
            prev: NIL,
            next: NIL,
        });
        // Where each operation's return entry lands, to link calls to their returns.
        let mut ret_pos = vec![NIL; history.len()];
        for (pos, &(_, op, is_call)) in order.iter().enumerate() {
            let index = pos + 1;
            if !is_call {
                ret_pos[op] = index;
            }
            let next = if pos + 1 < order.len() {
                index + 1
            } else {
                NIL
            };
            entries.push(Entry {
                op,
                ret: NIL,
                prev: index - 1,
                next,
            });
        }
        if !order.is_empty() {
            entries[HEAD].next = 1;
        }
        for (pos, &(_, op, is_call)) in order.iter().enumerate() {
            if is_call {
                entries[pos + 1].ret = ret_pos[op];
            }
        }
        Self { entries }
    }

    pub fn get(&self, index: usize) -> Entry {
        self.entries[index]
    }

    /// The first entry still linked, or `NIL`.
    pub fn first(&self) -> usize {
        self.entries[HEAD].next
    }

    fn unlink(&mut self, index: usize) {
        let Entry { prev, next, .. } = self.entries[index];
        self.entries[prev].next = next;
        if next != NIL {
            self.entries[next].prev = prev;
        }
    }

    fn relink(&mut self, index: usize) {
        let Entry { prev, next, .. } = self.entries[index];
        self.entries[prev].next = index;
        if next != NIL {
            self.entries[next].prev = index;
        }
    }

    /// Removes a call entry and its return entry.
    pub fn lift(&mut self, call: usize) {
        let ret = self.entries[call].ret;
        self.unlink(call);
        self.unlink(ret);
    }

    /// Puts back what [`EntryList::lift`] removed; lifts must be undone in reverse order.
    pub fn unlift(&mut self, call: usize) {
        let ret = self.entries[call].ret;
        self.relink(ret);
        self.relink(call);
    }

    /// The operations whose call entries are linked before `stop`.
    pub fn calls_before(&self, stop: usize) -> Vec<usize> {
        let mut ops = Vec::new();
        let mut at = self.first();
        while at != NIL && at != stop {
            let entry = self.entries[at];
            if entry.is_call() {
                ops.push(entry.op);
            }
            at = entry.next;
        }
        ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(list: &EntryList) -> Vec<(usize, bool)> {
        let mut out = Vec::new();
        let mut at = list.first();
        while at != NIL {
            let e = list.get(at);
            out.push((e.op, e.is_call()));
            at = e.next;
        }
        out
    }

    #[test]
    fn entries_sort_by_time_calls_first_unknown_last() {
        let history = vec![
            Operation::new(0, 5, 10, (), ()),
            Operation::unknown(1, 0, (), ()),
            Operation::new(2, 10, 12, (), ()),
        ];
        let list = EntryList::new(&history, &[]);
        assert_eq!(
            walk(&list),
            vec![
                (1, true),
                (0, true),
                (2, true),
                (0, false),
                (2, false),
                (1, false)
            ]
        );
    }

    #[test]
    fn lift_and_unlift_restore_the_list() {
        let history = vec![
            Operation::new(0, 0, 1, (), ()),
            Operation::new(1, 0, 3, (), ()),
            Operation::new(2, 2, 4, (), ()),
        ];
        let mut list = EntryList::new(&history, &[]);
        let before = walk(&list);
        let first = list.first();
        list.lift(first);
        assert_eq!(
            walk(&list),
            vec![(1, true), (2, true), (1, false), (2, false)]
        );
        let second = list.first();
        list.lift(second);
        assert_eq!(walk(&list), vec![(2, true), (2, false)]);
        list.unlift(second);
        list.unlift(first);
        assert_eq!(walk(&list), before);
        assert_eq!(list.calls_before(NIL), vec![0, 1, 2]);
    }

    #[test]
    fn left_out_operations_have_no_entries() {
        let history = vec![
            Operation::new(0, 0, 1, (), ()),
            Operation::unknown(1, 0, (), ()),
            Operation::new(2, 2, 4, (), ()),
        ];
        let mut list = EntryList::new(&history, &[false, true]);
        assert_eq!(
            walk(&list),
            vec![(0, true), (0, false), (2, true), (2, false)]
        );
        let first = list.first();
        list.lift(first);
        assert_eq!(list.calls_before(NIL), vec![2]);
    }
}
