//! The pending hooks of one connection and the savepoint marks that scope them.
//!
//! Hooks are stored unboxed: one column (a `VecDeque`) per concrete hook type holds just the
//! calls (closures with their captured values), and the registration order is kept as runs
//! of consecutive hooks with the same column, site and robust flag (a loop that registers
//! one closure N times is one run). A pending hook therefore costs the size of its closure
//! and no allocation of its own. Each open level remembers how many hooks existed when it
//! began. Releasing a savepoint just forgets its mark (its hooks now belong to the parent),
//! rolling it back truncates to the mark, and the outermost COMMIT takes everything as a
//! [`Batch`] that runs the hooks in registration order. Every operation is O(1) amortized
//! apart from dropping discarded hooks.

use std::any::{Any, TypeId};
use std::collections::VecDeque;

use crate::hook::{BoxFuture, Entry, Hook, HookSite, Outcome};

/// Where the outcomes of hooks run by the stack go (the runner collects failures): each hook's
/// site, robust flag and what its call returned. A hook that returned `Ok` may be left out
/// (there is nothing to record).
pub(crate) type Sink<'a> = &'a mut dyn FnMut(HookSite, bool, Outcome);

/// `len` consecutive hooks, in registration order, stored in `columns[column]`, all
/// registered at `site` with the same robust flag.
#[derive(Clone, Copy)]
struct Run {
    column: usize,
    len: usize,
    site: HookSite,
    robust: bool,
}

/// The calls of the pending hooks of one entry type `E`, oldest first.
struct Column<E: Entry> {
    calls: VecDeque<E::Call>,
}

/// The `oncommit.hooks` span of `count` consecutive hooks registered at `site` (a loop's
/// `enqueue!` runs as one), at DEBUG level: cheap when nobody listens.
#[inline]
pub(crate) fn hooks_span(site: HookSite, count: usize) -> tracing::Span {
    tracing::debug_span!(
        "oncommit.hooks",
        call = site.call().unwrap_or(""),
        site = %site.location(),
        count
    )
}

/// The type-erased face of a [`Column`]. `site` and `robust` describe the hooks acted on.
trait AnyColumn: Send {
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// Runs the `n` oldest hooks on the current thread.
    fn run_sync_front(&mut self, n: usize, site: HookSite, robust: bool, sink: Sink<'_>);
    /// Runs the oldest hook (up to its future).
    fn run_one(&mut self) -> Option<Outcome>;
    /// True when the hooks of this column never return a future.
    fn always_sync(&self) -> bool;
    /// Moves the `n` oldest hooks, boxed, to `out`.
    fn take_front(&mut self, n: usize, site: HookSite, robust: bool, out: &mut Vec<Hook>);
    /// Drops the `n` newest hooks, oldest of them first.
    fn truncate_back(&mut self, n: usize);
    /// Splits off the `n` newest hooks into a column of their own.
    fn split_back(&mut self, n: usize) -> Box<dyn AnyColumn>;
    /// Drops the `n` oldest hooks.
    fn drop_front(&mut self, n: usize);
}

impl<E: Entry> AnyColumn for Column<E> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn run_sync_front(&mut self, n: usize, site: HookSite, robust: bool, sink: Sink<'_>) {
        let n = n.min(self.calls.len());
        let span = hooks_span(site, n);
        let _entered = span.enter();
        for call in self.calls.drain(..n) {
            match E::run_call(call) {
                // The common case stays in this monomorphized loop: nothing to record.
                Outcome::Ready(Ok(())) => {}
                outcome => sink(site, robust, outcome),
            }
        }
    }

    fn run_one(&mut self) -> Option<Outcome> {
        self.calls.pop_front().map(E::run_call)
    }

    fn always_sync(&self) -> bool {
        E::always_sync()
    }

    fn take_front(&mut self, n: usize, site: HookSite, robust: bool, out: &mut Vec<Hook>) {
        out.extend(
            self.calls
                .drain(..n.min(self.calls.len()))
                .map(|call| E::join(site, robust, call).into_hook()),
        );
    }

    fn truncate_back(&mut self, n: usize) {
        self.calls.truncate(self.calls.len().saturating_sub(n));
    }

    fn split_back(&mut self, n: usize) -> Box<dyn AnyColumn> {
        let at = self.calls.len().saturating_sub(n);
        Box::new(Column::<E> {
            calls: self.calls.split_off(at),
        })
    }

    fn drop_front(&mut self, n: usize) {
        self.calls.drain(..n.min(self.calls.len()));
    }
}

/// The hooks in registration order: runs over typed columns.
#[derive(Default)]
pub(crate) struct Store {
    runs: Vec<Run>,
    columns: Vec<Box<dyn AnyColumn>>,
    /// `types[i]` is the entry type of `columns[i]`.
    types: Vec<TypeId>,
    /// The column of the last registration (most loops register one type).
    last: usize,
    len: usize,
}

impl Store {
    fn column_of<E: Entry>(&mut self) -> usize {
        let ty = TypeId::of::<E>();
        if self.types.get(self.last) == Some(&ty) {
            return self.last;
        }
        let column = match self.types.iter().position(|t| *t == ty) {
            Some(column) => column,
            None => {
                self.types.push(ty);
                self.columns.push(Box::new(Column::<E> {
                    calls: VecDeque::new(),
                }));
                self.columns.len() - 1
            }
        };
        self.last = column;
        column
    }

    /// Stores `entry` in the column of its type (a boxed [`Hook`] in the column of boxed
    /// hooks).
    #[inline]
    pub(crate) fn push_typed<E: Entry>(&mut self, entry: E) {
        let column = self.column_of::<E>();
        let Some(typed) = self.columns[column]
            .as_any_mut()
            .downcast_mut::<Column<E>>()
        else {
            // Unreachable: `types[column]` is the type of `columns[column]`. Keep the hook
            // rather than lose it.
            debug_assert!(false, "hook column of the wrong type");
            return self.push_boxed(entry.into_hook());
        };
        let (site, robust, call) = entry.split();
        typed.calls.push_back(call);
        match self.runs.last_mut() {
            Some(run) if run.column == column && run.robust == robust && run.site.same(site) => {
                run.len += 1
            }
            _ => self.runs.push(Run {
                column,
                len: 1,
                site,
                robust,
            }),
        }
        self.len += 1;
    }

    /// Stores a boxed hook as it is (only reached if a column's type were wrong).
    #[cold]
    fn push_boxed(&mut self, hook: Hook) {
        self.push_typed(hook)
    }

    /// Drops the hooks after the first `keep`, oldest of them first.
    fn truncate(&mut self, keep: usize) {
        let cut = self.cut_runs(keep);
        let mut columns: Vec<usize> = cut.iter().map(|stretch| stretch.column).collect();
        columns.sort_unstable();
        columns.dedup();
        if columns.len() == cut.len() {
            // Each column holds one cut stretch, at its end: drop them in order.
            for stretch in &cut {
                self.columns[stretch.column].truncate_back(stretch.len);
            }
        } else {
            // Interleaved: take each column's cut tail out, then drop in order.
            let mut tails = self.split_tails(&cut);
            for stretch in &cut {
                if let Some(tail) = tails[stretch.column].as_mut() {
                    tail.drop_front(stretch.len);
                }
            }
        }
    }

    /// Takes the hooks after the first `keep` out, boxed, in registration order.
    fn take_after(&mut self, keep: usize) -> Vec<Hook> {
        let cut = self.cut_runs(keep);
        let mut tails = self.split_tails(&cut);
        let mut hooks = Vec::with_capacity(cut.iter().map(|stretch| stretch.len).sum());
        for stretch in &cut {
            if let Some(tail) = tails[stretch.column].as_mut() {
                tail.take_front(stretch.len, stretch.site, stretch.robust, &mut hooks);
            }
        }
        hooks
    }

    /// Shortens the runs to the first `keep` hooks and returns what was cut, oldest first.
    /// The columns still hold the cut hooks, at their ends.
    fn cut_runs(&mut self, keep: usize) -> Vec<Run> {
        let mut excess = self.len.saturating_sub(keep);
        self.len -= excess;
        let mut cut = Vec::new();
        while excess > 0 {
            let Some(run) = self.runs.last_mut() else {
                break;
            };
            let n = run.len.min(excess);
            cut.push(Run { len: n, ..*run });
            run.len -= n;
            excess -= n;
            if run.len == 0 {
                self.runs.pop();
            }
        }
        cut.reverse();
        cut
    }

    /// Splits off each column's cut hooks (the tail of the column, after [`Self::cut_runs`])
    /// into a column of their own, indexed like `columns`.
    fn split_tails(&mut self, cut: &[Run]) -> Vec<Option<Box<dyn AnyColumn>>> {
        let mut tails: Vec<Option<Box<dyn AnyColumn>>> = Vec::new();
        tails.resize_with(self.columns.len(), || None);
        for (column, tail) in tails.iter_mut().enumerate() {
            let n: usize = cut
                .iter()
                .filter(|stretch| stretch.column == column)
                .map(|stretch| stretch.len)
                .sum();
            if n > 0 {
                *tail = Some(self.columns[column].split_back(n));
            }
        }
        tails
    }
}

/// The hooks an outermost COMMIT took, in registration order.
pub(crate) struct Batch {
    store: Store,
    /// The next run to take hooks from, and how many of it were taken.
    next: usize,
    taken: usize,
}

impl Batch {
    /// Runs every hook in order on the current thread, each outcome to `sink`.
    pub(crate) fn run_sync(self, sink: Sink<'_>) {
        let Store {
            runs, mut columns, ..
        } = self.store;
        for (i, run) in runs.iter().enumerate().skip(self.next) {
            let skip = if i == self.next { self.taken } else { 0 };
            if let Some(column) = columns.get_mut(run.column) {
                column.run_sync_front(run.len - skip, run.site, run.robust, sink);
            }
        }
    }

    /// The hooks as standalone values, in order.
    pub(crate) fn into_hooks(self) -> Vec<Hook> {
        let Store {
            runs,
            mut columns,
            len,
            ..
        } = self.store;
        let mut hooks = Vec::with_capacity(len);
        for (i, run) in runs.iter().enumerate().skip(self.next) {
            let skip = if i == self.next { self.taken } else { 0 };
            if let Some(column) = columns.get_mut(run.column) {
                column.take_front(run.len - skip, run.site, run.robust, &mut hooks);
            }
        }
        hooks
    }
}

impl Batch {
    /// Runs hooks in order up to the next async one and returns its future (with its site
    /// and robust flag) for the caller to await; sync hooks on the way run here and their
    /// outcomes go to `sink`. `None` when every hook ran.
    pub(crate) fn next_pending(&mut self, sink: Sink<'_>) -> Option<(HookSite, bool, BoxFuture)> {
        loop {
            let run = *self.store.runs.get(self.next)?;
            if self.taken < run.len {
                let column = self.store.columns.get_mut(run.column)?;
                if column.always_sync() {
                    column.run_sync_front(run.len - self.taken, run.site, run.robust, sink);
                    self.taken = run.len;
                    continue;
                }
                self.taken += 1;
                let span = hooks_span(run.site, 1);
                let outcome = span.in_scope(|| column.run_one())?;
                match outcome {
                    ready @ Outcome::Ready(_) => sink(run.site, run.robust, ready),
                    Outcome::Pending(future) => return Some((run.site, run.robust, future)),
                }
                continue;
            }
            self.next += 1;
            self.taken = 0;
        }
    }
}

#[derive(Default)]
pub(crate) struct HookStack {
    store: Store,
    marks: Vec<usize>,
}

impl HookStack {
    /// Open levels: 0 outside a transaction, 1 in the outermost, 2+ in savepoints.
    pub(crate) fn depth(&self) -> usize {
        self.marks.len()
    }

    /// Hooks waiting for COMMIT.
    pub(crate) fn pending(&self) -> usize {
        self.store.len
    }

    pub(crate) fn begin(&mut self) {
        self.marks.push(self.store.len);
    }

    #[inline]
    pub(crate) fn push(&mut self, hook: impl Entry) {
        debug_assert!(self.depth() > 0, "hooks are only held inside a transaction");
        self.store.push_typed(hook);
    }

    /// A savepoint was released: its hooks now wait for the parent.
    pub(crate) fn release(&mut self) {
        debug_assert!(self.depth() > 1);
        self.marks.pop();
    }

    /// The outermost transaction committed: every hook, in registration order.
    pub(crate) fn commit_outermost(&mut self) -> Batch {
        debug_assert_eq!(self.depth(), 1);
        self.marks.clear();
        Batch {
            store: std::mem::take(&mut self.store),
            next: 0,
            taken: 0,
        }
    }

    /// The innermost level rolled back: drop exactly the hooks registered since it began.
    pub(crate) fn rollback(&mut self) {
        if let Some(mark) = self.marks.pop() {
            self.store.truncate(mark);
        }
    }

    /// Takes out the hooks registered after the first `keep`, in registration order, when
    /// they all belong to the innermost open level (it began at or before `keep`); nothing
    /// otherwise. They will not run at COMMIT.
    pub(crate) fn take_since(&mut self, keep: usize) -> Vec<Hook> {
        match self.marks.last() {
            Some(&mark) if mark <= keep => self.store.take_after(keep),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hook::{AsyncHook, SyncHook};
    use crate::run::Hooks;
    use std::panic::Location;
    use std::sync::{Arc, Mutex};

    fn hook() -> Hook {
        Hook::sync(HookSite::from_location(Location::caller()), false, || ())
    }

    fn site() -> HookSite {
        HookSite::from_location(Location::caller())
    }

    #[test]
    fn rollback_of_a_savepoint_keeps_the_parents_hooks() {
        let mut stack = HookStack::default();
        stack.begin();
        stack.push(hook());
        stack.begin();
        stack.push(hook());
        stack.begin();
        stack.push(hook());
        stack.release();
        assert_eq!(stack.pending(), 3);
        stack.rollback();
        assert_eq!((stack.depth(), stack.pending()), (1, 1));
        assert_eq!(stack.commit_outermost().into_hooks().len(), 1);
        assert_eq!((stack.depth(), stack.pending()), (0, 0));
    }

    /// Records its label when dropped.
    struct Noisy(&'static str, Arc<Mutex<Vec<&'static str>>>);

    impl Drop for Noisy {
        fn drop(&mut self) {
            self.1.lock().unwrap().push(self.0);
        }
    }

    /// Hooks of three types, interleaved: they run in registration order, and a rollback
    /// drops exactly the newest ones, oldest first.
    #[test]
    fn interleaved_types_keep_registration_order() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut stack = HookStack::default();
        stack.begin();
        let plain = |label: &'static str, log: &Arc<Mutex<Vec<&'static str>>>| {
            let log = log.clone();
            SyncHook::new(site(), false, move || log.lock().unwrap().push(label))
        };
        let boxed = |label: &'static str, log: &Arc<Mutex<Vec<&'static str>>>| {
            let log = log.clone();
            Hook::sync(site(), false, move || log.lock().unwrap().push(label))
        };
        stack.push(plain("a", &log));
        stack.push(boxed("b", &log));
        stack.push(plain("c", &log));
        stack.begin();
        let noisy = |label, log: &Arc<Mutex<Vec<&'static str>>>| {
            let value = Noisy(label, log.clone());
            SyncHook::new(site(), false, move || drop(value))
        };
        stack.push(noisy("drop 1", &log));
        stack.push(boxed("never", &log));
        stack.push(noisy("drop 2", &log));
        stack.push(plain("never", &log));
        stack.push(noisy("drop 3", &log));
        assert_eq!(stack.pending(), 8);
        stack.rollback();
        assert_eq!(*log.lock().unwrap(), ["drop 1", "drop 2", "drop 3"]);
        log.lock().unwrap().clear();
        stack.push(boxed("d", &log));
        stack.push(plain("e", &log));
        stack.push(plain("f", &log));
        let batch = stack.commit_outermost();
        crate::run::run_sync(batch).unwrap();
        assert_eq!(*log.lock().unwrap(), ["a", "b", "c", "d", "e", "f"]);
    }

    /// `take_since`: the hooks after the mark come out in registration order across
    /// interleaved types; the ones before it stay and still run at COMMIT.
    #[test]
    fn taking_the_hooks_after_a_mark_keeps_both_sides_in_order() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let plain = |label: &'static str| {
            let log = log.clone();
            SyncHook::new(site(), false, move || log.lock().unwrap().push(label))
        };
        let boxed = |label: &'static str| {
            let log = log.clone();
            Hook::sync(site(), true, move || log.lock().unwrap().push(label))
        };
        let mut stack = HookStack::default();
        stack.begin();
        stack.push(plain("kept 1"));
        stack.push(boxed("kept 2"));
        let mark = stack.pending();
        stack.push(plain("taken 1"));
        stack.push(boxed("taken 2"));
        stack.push(plain("taken 3"));
        stack.begin();
        // a level that began after the mark is still open: nothing can be taken
        assert!(stack.take_since(mark).is_empty());
        stack.push(plain("taken 4"));
        stack.release();
        let taken = stack.take_since(mark);
        assert_eq!(stack.pending(), 2);
        let robust: Vec<bool> = taken.iter().map(Hook::is_robust).collect();
        assert_eq!(robust, [false, true, false, false]);
        crate::run::run_sync(taken).unwrap();
        assert_eq!(
            *log.lock().unwrap(),
            ["taken 1", "taken 2", "taken 3", "taken 4"]
        );
        log.lock().unwrap().clear();
        stack.push(plain("kept 3"));
        crate::run::run_sync(stack.commit_outermost()).unwrap();
        assert_eq!(*log.lock().unwrap(), ["kept 1", "kept 2", "kept 3"]);
        // outside a transaction there is nothing to take
        assert!(stack.take_since(0).is_empty());
    }

    #[test]
    fn a_batch_hands_out_hooks_in_order() {
        let mut stack = HookStack::default();
        stack.begin();
        stack.push(SyncHook::new(site(), true, || Err::<(), _>("failed")));
        stack.push(SyncHook::new(site(), true, || ()));
        stack.push(AsyncHook::new(site(), false, || async {}));
        stack.push(hook());
        stack.push(SyncHook::new(site(), false, || ()));
        let mut batch = stack.commit_outermost();
        let mut ran = Vec::new();
        // the sync hooks before it run on the way (only the failure is handed to the sink);
        // the async one is handed out
        let (_, robust, _future) = batch
            .next_pending(&mut |_, robust, outcome| {
                ran.push((robust, matches!(outcome, Outcome::Ready(Ok(())))))
            })
            .unwrap();
        assert!(!robust);
        assert_eq!(ran, [(true, false)]);
        let hooks = batch.into_hooks();
        let kinds: Vec<_> = hooks
            .iter()
            .map(|h| (h.is_async(), h.is_robust()))
            .collect();
        assert_eq!(kinds, [(false, false), (false, false)]);
        assert_eq!(hooks.into_hooks().len(), 2);
    }
}
