//! Running committed hooks: in order, every one of them, failures collected or logged.

use tracing::Instrument;

use crate::BoxError;
use crate::error::{Error, HookFailure};
use crate::hook::{BoxFuture, Entry, Hook, HookSite, Outcome};
use crate::stack::{Batch, Sink};

/// Collects the failures of a batch of hooks; robust ones are logged instead.
#[derive(Default)]
pub(crate) struct Failures(Vec<HookFailure>);

impl Failures {
    #[inline]
    pub(crate) fn record(&mut self, site: HookSite, robust: bool, result: Result<(), BoxError>) {
        if let Err(error) = result {
            self.failed(site, robust, error);
        }
    }

    #[cold]
    fn failed(&mut self, site: HookSite, robust: bool, error: BoxError) {
        if robust {
            tracing::warn!(
                call = site.call().unwrap_or(""),
                site = %site.location(),
                error = %error,
                "robust after-commit hook failed"
            );
        } else {
            tracing::error!(
                call = site.call().unwrap_or(""),
                site = %site.location(),
                error = %error,
                "after-commit hook failed"
            );
            self.0.push(HookFailure::new(site, error));
        }
    }

    fn finish(self) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::hooks(self.0))
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "this hook is async (its call ends in `.await`) but the transaction committed synchronously; \
     use an async connection and `atomic_async` / an async `#[atomic]` fn"
)]
struct AsyncHookOnSyncCommit;

/// Records the result of a hook run on the current thread. An async hook cannot run here
/// and fails (its call is still made, and the future it returned is dropped).
#[inline]
fn record_sync(site: HookSite, robust: bool, outcome: Outcome, failures: &mut Failures) {
    let result = match outcome {
        Outcome::Ready(result) => result,
        Outcome::Pending(_) => Err(Box::new(AsyncHookOnSyncCommit) as BoxError),
    };
    failures.record(site, robust, result);
}

/// Runs one hook on the current thread and records its result.
fn run_entry_sync<E: Entry>(entry: E, failures: &mut Failures) {
    let (site, robust, call) = entry.split();
    record_sync(site, robust, E::run_call(call), failures);
}

/// What hooks can be run from: the batch an outermost COMMIT takes from the stack, or
/// standalone [`Hook`]s (a hook run at once outside a transaction, captured hooks).
pub(crate) trait Hooks: Send + Sized {
    /// The hooks being run by [`run_async`].
    type Runs: PendingRuns + Send;

    /// Runs every hook in order on the current thread.
    fn run_sync_into(self, failures: &mut Failures);

    /// Starts running the hooks (see [`PendingRuns`]).
    fn runs(self) -> Self::Runs;

    /// The hooks as standalone values, in order (for `testing::capture`).
    fn into_hooks(self) -> Vec<Hook>;
}

/// Hooks being run in order by an async commit.
pub(crate) trait PendingRuns {
    /// Runs hooks up to the next async one and returns its future to await (with its site and
    /// robust flag); sync hooks on the way run here, their results recorded in `failures`.
    fn next_pending(&mut self, failures: &mut Failures) -> Option<(HookSite, bool, BoxFuture)>;
}

fn next_pending_of(
    hooks: &mut impl Iterator<Item = Hook>,
    failures: &mut Failures,
) -> Option<(HookSite, bool, BoxFuture)> {
    for hook in hooks {
        let (site, robust) = (hook.site(), hook.is_robust());
        match hook.run() {
            Outcome::Ready(result) => failures.record(site, robust, result),
            Outcome::Pending(future) => return Some((site, robust, future)),
        }
    }
    None
}

impl PendingRuns for std::vec::IntoIter<Hook> {
    fn next_pending(&mut self, failures: &mut Failures) -> Option<(HookSite, bool, BoxFuture)> {
        next_pending_of(self, failures)
    }
}

impl<const N: usize> PendingRuns for std::array::IntoIter<Hook, N> {
    fn next_pending(&mut self, failures: &mut Failures) -> Option<(HookSite, bool, BoxFuture)> {
        next_pending_of(self, failures)
    }
}

impl PendingRuns for Batch {
    fn next_pending(&mut self, failures: &mut Failures) -> Option<(HookSite, bool, BoxFuture)> {
        let sink: Sink<'_> =
            &mut |site, robust, outcome| record_sync(site, robust, outcome, failures);
        Batch::next_pending(self, sink)
    }
}

impl Hooks for Vec<Hook> {
    type Runs = std::vec::IntoIter<Hook>;

    fn run_sync_into(self, failures: &mut Failures) {
        for hook in self {
            run_entry_sync(hook, failures);
        }
    }

    fn runs(self) -> Self::Runs {
        self.into_iter()
    }

    fn into_hooks(self) -> Vec<Hook> {
        self
    }
}

impl<const N: usize> Hooks for [Hook; N] {
    type Runs = std::array::IntoIter<Hook, N>;

    fn run_sync_into(self, failures: &mut Failures) {
        for hook in self {
            run_entry_sync(hook, failures);
        }
    }

    fn runs(self) -> Self::Runs {
        self.into_iter()
    }

    fn into_hooks(self) -> Vec<Hook> {
        self.into()
    }
}

impl Hooks for Batch {
    type Runs = Batch;

    fn run_sync_into(self, failures: &mut Failures) {
        Batch::run_sync(self, &mut |site, robust, outcome| {
            record_sync(site, robust, outcome, failures)
        })
    }

    fn runs(self) -> Self::Runs {
        self
    }

    fn into_hooks(self) -> Vec<Hook> {
        Batch::into_hooks(self)
    }
}

/// Runs `hooks` in order on the current thread. An async hook cannot run here and fails.
pub(crate) fn run_sync(hooks: impl Hooks) -> Result<(), Error> {
    let mut failures = Failures::default();
    hooks.run_sync_into(&mut failures);
    failures.finish()
}

/// Runs `hooks` in order, awaiting each async hook before the next starts.
pub(crate) async fn run_async(hooks: impl Hooks) -> Result<(), Error> {
    let mut failures = Failures::default();
    let mut runs = hooks.runs();
    let unfinished = Unfinished;
    while let Some((site, robust, future)) = runs.next_pending(&mut failures) {
        let result = Outcome::Pending(future)
            .resolve()
            .instrument(crate::stack::hooks_span(site, 1))
            .await;
        failures.record(site, robust, result);
    }
    std::mem::forget(unfinished);
    failures.finish()
}

/// Alive while committed hooks run: dropped with the future (cancelled after COMMIT), it
/// says that the hooks not yet run are dropped, so the loss is never silent.
struct Unfinished;

impl Drop for Unfinished {
    fn drop(&mut self) {
        tracing::error!(
            "the transaction committed, and its future was dropped while its hooks ran: the \
             hooks not yet run are dropped (a job that must survive this belongs in a table \
             written inside the transaction)"
        );
    }
}
