//! Rollback hooks (`Conn::on_rollback`): kept per open level, like commit hooks. A level that
//! rolls back runs its own (and those of its released savepoints, whose work it undid); a
//! released savepoint hands them to its parent; the outermost COMMIT drops them all.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::BoxError;
use crate::hook::HookSite;
use crate::per_level::PerLevel;

type RollbackHook = Box<dyn FnOnce() -> Result<(), BoxError> + Send>;

/// The rollback hooks of the open levels.
#[derive(Default)]
pub(crate) struct RollbackHooks(PerLevel<(HookSite, RollbackHook)>);

impl std::fmt::Debug for RollbackHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RollbackHooks")
            .field("pending", &self.0.all().len())
            .finish()
    }
}

impl RollbackHooks {
    pub(crate) fn begin(&mut self) {
        self.0.begin();
    }

    /// Registers `hook` in the innermost level; false (and the hook dropped) when no level is
    /// open.
    pub(crate) fn push(&mut self, site: HookSite, hook: RollbackHook) -> bool {
        if !self.0.is_open() {
            return false;
        }
        self.0.push((site, hook));
        true
    }

    /// A savepoint was released: its hooks now belong to its parent.
    pub(crate) fn release(&mut self) {
        self.0.release();
    }

    /// The outermost level committed: no hook of it will ever run.
    pub(crate) fn committed(&mut self) {
        self.0.clear();
    }

    /// The innermost level rolled back: runs its hooks, in the order they were registered.
    /// Failures and panics are logged (the rollback's caller already has an error of its own).
    pub(crate) fn rolled_back(&mut self) {
        let hooks: Vec<_> = self.0.rollback().collect();
        for (site, hook) in hooks {
            match catch_unwind(AssertUnwindSafe(hook)) {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::error!(%error, site = %site, "a rollback hook failed");
                }
                Err(_) => tracing::error!(site = %site, "a rollback hook panicked"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[track_caller]
    fn site() -> HookSite {
        HookSite::from_location(std::panic::Location::caller())
    }

    #[test]
    fn a_level_runs_its_own_and_its_released_savepoints_hooks() {
        let ran = Arc::new(Mutex::new(Vec::new()));
        let hook = |n: u8| -> RollbackHook {
            let ran = ran.clone();
            Box::new(move || {
                ran.lock().unwrap().push(n);
                Ok(())
            })
        };
        let mut hooks = RollbackHooks::default();
        assert!(!hooks.push(site(), hook(0)), "no level: dropped");
        hooks.begin();
        hooks.push(site(), hook(1));
        hooks.begin();
        hooks.push(site(), hook(2));
        hooks.release();
        hooks.begin();
        hooks.push(site(), hook(3));
        hooks.rolled_back();
        assert_eq!(
            *ran.lock().unwrap(),
            [3],
            "a savepoint's rollback: its own only"
        );
        hooks.rolled_back();
        assert_eq!(*ran.lock().unwrap(), [3, 1, 2]);
        hooks.begin();
        hooks.push(site(), hook(4));
        hooks.committed();
        hooks.rolled_back();
        assert_eq!(*ran.lock().unwrap(), [3, 1, 2], "never after COMMIT");
    }
}
