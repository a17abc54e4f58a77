//! The `Debug` text of the arguments an `enqueue!` captured, so that a test can assert on a
//! job's payload through [`Hook::args`](crate::hook::Hook::args).
//!
//! The text is made only while a [`testing::Capture`](crate::testing::Capture) is open
//! somewhere in the process: outside tests, an `enqueue!` pays one relaxed atomic load for
//! it and nothing else.

use std::any::type_name;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::hook::{Entry, HookSite, Outcome};

/// The number of captures open in the process.
static OPEN_CAPTURES: AtomicUsize = AtomicUsize::new(0);

/// A capture opened: `enqueue!` records argument text from now on.
pub(crate) fn capture_opened() {
    OPEN_CAPTURES.fetch_add(1, Ordering::Relaxed);
}

/// A capture closed (called once per opened capture).
pub(crate) fn capture_closed() {
    OPEN_CAPTURES.fetch_sub(1, Ordering::Relaxed);
}

/// The arguments' text from `describe`, when a capture is open anywhere; `None` otherwise.
///
/// A capture open on another thread's `Conn` makes this `Some` too: the text is then
/// recorded on a hook nobody inspects, which costs time only.
#[inline]
pub(crate) fn describe<const N: usize>(
    describe: impl FnOnce() -> [String; N],
) -> Option<Box<[String]>> {
    if OPEN_CAPTURES.load(Ordering::Relaxed) == 0 {
        None
    } else {
        Some(Box::new(describe()))
    }
}

/// One argument of an enqueued call, borrowed to be described: by its `Debug` text when its
/// type has one ([`ArgDebug`]), else by its type's name ([`ArgTypeName`]).
pub struct Arg<'a, T>(pub &'a T);

/// The `Debug` text of an argument whose type implements `Debug`.
pub trait ArgDebug {
    /// `format!("{:?}", arg)`.
    fn __oncommit_text(&self) -> String;
}

impl<T: fmt::Debug> ArgDebug for Arg<'_, T> {
    fn __oncommit_text(&self) -> String {
        format!("{:?}", self.0)
    }
}

/// The text of an argument whose type does not implement `Debug`: `<TYPE>`. Method
/// resolution reaches this impl (on `&Arg`) only when [`ArgDebug`]'s (on `Arg`) does not
/// apply.
pub trait ArgTypeName {
    /// `<TYPE>`.
    fn __oncommit_text(&self) -> String;
}

impl<T> ArgTypeName for &Arg<'_, T> {
    fn __oncommit_text(&self) -> String {
        format!("<{}>", type_name::<T>())
    }
}

/// A hook together with the text of its arguments.
pub(crate) struct Described<E> {
    hook: E,
    args: Box<[String]>,
}

impl<E: Entry> Described<E> {
    pub(crate) fn new(hook: E, args: Box<[String]>) -> Self {
        Described { hook, args }
    }
}

impl<E: Entry> Entry for Described<E> {
    type Call = (E::Call, Box<[String]>);

    fn site(&self) -> HookSite {
        self.hook.site()
    }

    fn is_robust(&self) -> bool {
        self.hook.is_robust()
    }

    fn is_async(&self) -> bool {
        self.hook.is_async()
    }

    fn args(&self) -> Option<&[String]> {
        Some(&self.args)
    }

    fn split(self) -> (HookSite, bool, Self::Call) {
        let (site, robust, call) = self.hook.split();
        (site, robust, (call, self.args))
    }

    fn join(site: HookSite, robust: bool, (call, args): Self::Call) -> Self {
        Described {
            hook: E::join(site, robust, call),
            args,
        }
    }

    fn run_call((call, _args): Self::Call) -> Outcome {
        E::run_call(call)
    }

    fn always_sync() -> bool {
        E::always_sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Opaque;

    // The borrow picks the impl, as in the expansion of `enqueue!`.
    #[allow(clippy::needless_borrow)]
    #[test]
    fn debug_text_or_type_name() {
        assert_eq!(
            (&Arg(&"a@example.com")).__oncommit_text(),
            "\"a@example.com\""
        );
        assert_eq!((&Arg(&Some(7u64))).__oncommit_text(), "Some(7)");
        assert_eq!(
            (&Arg(&Opaque)).__oncommit_text(),
            format!("<{}>", type_name::<Opaque>())
        );
    }
}
