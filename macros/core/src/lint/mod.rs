//! The loop-borrow check of `#[atomic]` (docs/design.md, "The compile-time check").
//!
//! An `enqueue!` evaluates its receiver and arguments at once and moves them into a hook that
//! runs after COMMIT. If one of those values holds a borrow of a loop variable, the hook
//! would outlive the iteration: rustc rejects it with a lifetime error far from the cause,
//! and in languages without a borrow checker it is the "every callback sees the last user"
//! bug. This module finds those captures and explains them at the borrow:
//!
//! ```text
//! error: `enqueue!` would capture a borrow of loop variable `user`; the hook runs after COMMIT, when the loop has moved on
//!        help: capture by value: pass `user.email.clone()` instead of `&user.email`
//!   --> src/signup.rs:23:38
//!    |
//! 23 |         enqueue!(mailer.send_welcome(&user.email).await);
//!    |                                      ^^^^^^^^^^^
//! ```
//!
//! Stages: [`walk`] visits the body in binding order with real scopes ([`scope`]) and finds
//! every `enqueue!`; [`value`] decides, for each captured expression, which borrows of loop
//! variables its value would hold; [`methods`] lists the std methods whose result borrows
//! their receiver. The analysis is syntactic (no types): a method it does not know is
//! assumed to return an owned value, so unknown code is left to rustc rather than rejected.
//!
//! What is deliberately left to rustc (its own borrow error is then the message):
//!
//! - borrows of variables bound outside every loop (`&config`, or `user` in
//!   `for user in &users` where `users` is a parameter): not loop variables;
//! - methods the lists do not know are assumed to return owned values (`user.email()` may
//!   return `&str`);
//! - a place receiver (`u.send()`) is cloned by the expansion, so a binding holding one
//!   plain reference is fine there; one holding an `Option<&T>` or other borrowing value is
//!   not seen through;
//! - the value of a labeled block's `break 'label value`, and `let ref x = temporary()`.
//!
//! Only `proc_macro2` is used, never `proc_macro`.

mod methods;
mod scope;
mod value;
mod walk;

#[cfg(test)]
mod tests;

use proc_macro2::TokenStream;

/// Every capture of a borrow of a loop variable by an `enqueue!` in `body`, one error per
/// borrow, in source order, each on the borrow's own tokens.
///
/// `body` is the `#[atomic]` function's block; parameters and other names bound outside it
/// are not loop variables.
// Used by the unit tests and by the expansion bench (`runtime/benches/expand.rs`, which
// measures this stage alone); the macro itself uses `loop_borrows_and_parsed`.
#[allow(dead_code)]
pub(crate) fn loop_borrows(body: &syn::Block) -> Vec<syn::Error> {
    loop_borrows_and_parsed(body).0
}

/// [`loop_borrows`], and the `enqueue!` inputs it parsed in `body`'s own tree, for the
/// rewrite to use instead of parsing them again.
pub(crate) fn loop_borrows_and_parsed(
    body: &syn::Block,
) -> (Vec<syn::Error>, crate::syntax::Parsed) {
    let mut walker = walk::Walker::new(body);
    walker.fn_body(body);
    let (findings, parsed) = walker.into_findings_and_parsed();
    let errors = findings
        .into_iter()
        .map(|finding| finding.into_error())
        .collect();
    (errors, parsed)
}

/// How the captured value comes to hold the borrow; picks the wording of the error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `&place` / `&mut place`; `place` is its source text (`user`, `user.email`, `ids[..]`).
    Reference {
        place: String,
        indexed: bool,
        mutable: bool,
    },
    /// A borrowing method: `user.as_str()`, `user.tags.iter()`; `receiver` and `call` are
    /// source text, `iterates` when the result is an iterator.
    Method {
        receiver: String,
        call: String,
        iterates: bool,
    },
    /// A binding that holds a borrow (`let y = &x;`), captured by value.
    Alias,
    /// A `ref` binding into a loop variable.
    RefBinding,
    /// A non-`move` closure (or `async` block when `is_async`) that mentions the variable.
    Closure { is_async: bool },
    /// A `move` closure or `async move` block that moves in a binding holding a borrow.
    MovedAlias,
}

/// One borrow of a loop variable that an `enqueue!` would capture.
#[derive(Clone, Debug)]
pub(crate) struct Finding {
    /// The tokens the error points at.
    pub tokens: TokenStream,
    /// The loop variable that would be borrowed.
    pub var: String,
    /// The binding the borrow goes through (`y` in `let y = &x;`), if not `var` itself.
    pub via: Option<String>,
    /// How the borrow arises.
    pub kind: Kind,
}

const AFTER_COMMIT: &str = "the hook runs after COMMIT, when the loop has moved on";

impl Finding {
    /// The first line of the error.
    pub(crate) fn message(&self) -> String {
        let var = &self.var;
        let what = match (&self.kind, self.via.as_deref()) {
            (Kind::Closure { is_async: false }, _) => {
                format!("a closure that borrows loop variable `{var}`")
            }
            (Kind::Closure { is_async: true }, _) => {
                format!("an `async` block that borrows loop variable `{var}`")
            }
            (Kind::RefBinding, Some(via)) if via != var => {
                format!("`{via}`, a `ref` binding into loop variable `{var}`")
            }
            (Kind::RefBinding, _) => {
                format!("`{var}`, a `ref` binding: a borrow of the loop variable")
            }
            (_, Some(via)) if via != var => {
                format!("`{via}`, a borrow of loop variable `{var}`")
            }
            _ => format!("a borrow of loop variable `{var}`"),
        };
        format!("`enqueue!` would capture {what}; {AFTER_COMMIT}")
    }

    /// The `help:` line: the by-value fix for this case.
    pub(crate) fn help(&self) -> String {
        let var = &self.var;
        match (&self.kind, self.via.as_deref()) {
            (
                Kind::Reference {
                    place,
                    mutable: true,
                    ..
                },
                _,
            ) => format!(
                "capture by value: move `{place}` into the hook (pass `{place}`; the hook \
                 mutates its own value) instead of `&mut {place}`"
            ),
            (Kind::Reference { place, .. }, None) if place == var => format!(
                "capture by value: pass `{var}` (moved into the hook) or `{var}.clone()` \
                 instead of `&{var}`"
            ),
            (
                Kind::Reference {
                    place,
                    indexed: true,
                    ..
                },
                _,
            ) => format!("capture by value: pass `{place}.to_owned()` instead of `&{place}`"),
            (Kind::Reference { place, .. }, _) => {
                format!("capture by value: pass `{place}.clone()` instead of `&{place}`")
            }
            (
                Kind::Method {
                    receiver,
                    iterates: true,
                    ..
                },
                _,
            ) => format!("capture by value: pass `{receiver}.clone()` and iterate inside the hook"),
            (Kind::Method { receiver, call, .. }, _) => {
                format!("capture by value: pass `{receiver}.clone()` (or `{call}.to_owned()`)")
            }
            (Kind::Closure { is_async: false }, _) => format!(
                "capture by value: make it a `move` closure so it owns `{var}` (clone `{var}` \
                 first if the loop still needs it)"
            ),
            (Kind::Closure { is_async: true }, _) => format!(
                "capture by value: make it an `async move` block so it owns `{var}` (clone \
                 `{var}` first if the loop still needs it)"
            ),
            (Kind::RefBinding, Some(via)) if via != var => format!(
                "capture by value: pass `{via}.clone()`, or bind `{via}` without `ref` so it \
                 is moved"
            ),
            (Kind::RefBinding, _) => format!(
                "capture by value: bind `{var}` without `ref` so it is moved, or pass \
                 `{var}.clone()`"
            ),
            (Kind::MovedAlias, Some(via)) => format!(
                "capture by value: clone it before the closure, e.g. `let {via} = {via}.clone();`, \
                 so what moves in is owned"
            ),
            (_, Some(via)) => format!(
                "capture by value: pass `{via}.clone()`, an owned copy, instead of the borrow"
            ),
            (Kind::Alias | Kind::MovedAlias, None) => {
                format!("capture by value: move or clone `{var}`")
            }
        }
    }

    /// The error, on the borrow's tokens, with the help as a second line.
    ///
    /// `compile_error!` has no notes: rustc prints a multi-line message indented under
    /// `error: `, before the `-->` location, so the help reads as its own line there.
    pub(crate) fn into_error(self) -> syn::Error {
        let text = format!("{}\nhelp: {}", self.message(), self.help());
        syn::Error::new_spanned(&self.tokens, text)
    }
}
