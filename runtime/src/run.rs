//! Running committed hooks: in order, every one of them, failures collected or logged.

use crate::error::{BoxError, Error, HookFailure};
use crate::hook::{Hook, Outcome};

/// Collects the failures of a batch of hooks; robust ones are logged instead.
#[derive(Default)]
struct Failures(Vec<HookFailure>);

impl Failures {
    fn record(&mut self, site: crate::HookSite, robust: bool, result: Result<(), BoxError>) {
        let Err(error) = result else { return };
        if robust {
            tracing::warn!(hook = %site, error = %error, "robust after-commit hook failed");
        } else {
            tracing::error!(hook = %site, error = %error, "after-commit hook failed");
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

/// Runs `hooks` in order on the current thread. An async hook cannot run here and fails.
pub(crate) fn run_sync(hooks: impl IntoIterator<Item = Hook>) -> Result<(), Error> {
    let mut failures = Failures::default();
    for hook in hooks {
        let (site, robust) = (hook.site(), hook.is_robust());
        let result = match hook.run() {
            Outcome::Ready(result) => result,
            Outcome::Pending(_) => Err(Box::new(AsyncHookOnSyncCommit) as BoxError),
        };
        failures.record(site, robust, result);
    }
    failures.finish()
}

/// Runs `hooks` in order, awaiting each async hook before the next starts.
pub(crate) async fn run_async(hooks: impl IntoIterator<Item = Hook>) -> Result<(), Error> {
    let mut failures = Failures::default();
    for hook in hooks {
        let (site, robust) = (hook.site(), hook.is_robust());
        let result = hook.run().resolve().await;
        failures.record(site, robust, result);
    }
    failures.finish()
}
