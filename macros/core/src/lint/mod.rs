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
//!        help: capture by value: pass `user.email.clone()` instead of `&user.email` (the call must take it by value)
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
//! # The rules
//!
//! Priorities, in order: never reject a program rustc accepts; where it speaks, its help is a
//! change that compiles; speak in as many unsafe cases as it can tell apart without types.
//!
//! What it claims (an error):
//!
//! - `&place` / `&mut place` of a loop variable (a `for` / `while let` pattern, a binding
//!   inside a loop body, an adapter closure's parameter), directly or through a binding
//!   that holds one (`let y = &x;`, `ref` patterns, `for m in &team.members`);
//! - a known borrowing method on such a place (`trim`, `first`, `split_once`, `iter`,
//!   `as_bytes`, ...; see [`methods`]), and methods that keep a borrow (`unwrap`, `filter`,
//!   another borrowing method) on such a result; `dbg!(x)` is `x`;
//! - the borrowing part of a tuple, array, struct literal or constructor (`Some(&x)`), and
//!   only that part: a binding, a pattern (`let (id, ..) =`, `let Job { id, .. } =`), a
//!   literal index (`refs[0]`) or a branch that builds tuples of one arity takes just the
//!   elements it names (a branch whose arms give references gives one reference);
//! - a variable given such a borrow by an assignment (`to = &x.email`): a variable has one
//!   type, so capturing it needs every borrow it is given to outlive the hook;
//! - `clone()` or an `unwrap`-like method of an `Option`, tuple or constructor value that
//!   holds such a borrow (`Some(&x).clone()`, `x.tags.first().clone()`);
//! - a non-`move` closure or `async` block that certainly borrows a loop variable: `&x`, a
//!   `&self` method on it (`x.len()`, `x.name.trim()`), a comparison, arithmetic with a
//!   number literal on a variable that holds a reference to a loop variable's data
//!   (`r.id + 1` with `let r = &x;`: a `Copy` number read through it is captured by
//!   reference, and nothing else can be moved out of it), indexing, a formatting macro's
//!   place arguments (`format!("{x}")`, `println!("{}", x.name)`); a `move` one that moves
//!   in a place holding a borrow, by the fields it uses (`move || pair.0` captures only
//!   `pair.0`, as edition 2021 does).
//!
//! Its help: an owned copy of the borrowing expression when the shape of what is borrowed is
//! known (`x.clone()` for `&x`, `.to_owned()` for a `&T`/`&str`/`&[T]`, the whole chain
//! kept; `.map(ToOwned::to_owned)` for an `Option` of one); otherwise what to pass, without
//! naming a method. Every help of the trybuild fail cases is applied and compiled by
//! `ui-tests/tests/helps.rs`.
//!
//! Where it deliberately stays silent (rustc's own borrow error is then the message):
//!
//! - borrows of variables bound outside every loop (`&config`, or `user` in
//!   `for user in &users` where `users` is a parameter): not loop variables;
//! - the items of `'static` data (`["ann", "bob"]`, a `const`/`static`, `TEXT.lines()`, a
//!   binding of `vec!["ann", "bob"]` popped in a `while let`): their methods borrow the
//!   `'static` data;
//! - methods the lists do not know are assumed to return owned values (`user.email()` may
//!   return `&str`; `file_name()`, `front()`, `parent()` are left out of the lists because
//!   types of one's own often have methods of those names that return owned values, and
//!   `as_str()` because many types have one that returns `&'static str`: `log::Level`,
//!   `tracing::Level`, enums of one's own);
//! - `.clone()` of a binding that holds a `&str` or `&[T]` (it is the same borrow) is taken
//!   for an owned copy, because `.clone()` of a `&String` is one: telling them apart needs
//!   types; `.collect()` without a turbofish naming a collection (`collect::<String>()` of
//!   `&str`s is owned); other methods on a tuple or `Option` that holds a borrow;
//! - std functions that return (part of) their borrowed input (`std::cmp::max(&a, &b)`,
//!   `std::iter::zip`, `str::from_utf8(&bytes)`, `Cow::from(&s)`), and adapters whose
//!   results are not modelled (`map(String::as_str)` with a path instead of a closure,
//!   `flatten`, `partition`);
//! - `refs.push(&x)` (`path.push(&dir)` on a `PathBuf` copies), the value of a `break` out
//!   of a `loop` or labeled block, a closure bound to a name and then passed to an adapter,
//!   and an adapter called as a path (`Iterator::for_each(it, |u| ..)`);
//! - a struct's field that is not written in a literal here (`job.to` of a `job` passed in);
//! - a place receiver (`u.send()`) is cloned by the expansion, so a binding holding one
//!   plain reference to a sized value is fine there (one to a `str` or slice, which cannot
//!   be cloned to its own type, is reported); one holding an `Option<&T>` or other
//!   borrowing value is not seen through, nor a receiver that is a method call returning a
//!   reference (`self.jobs().audit(..)`: rustc's E0521; clone it first, `let jobs =
//!   self.jobs().clone();`, or make it a place, as the README says);
//! - a non-`move` closure that may move or copy a loop variable (`|| drop(x)`, `|| x.id`,
//!   `|| send(x)`, `|| x.run()`, `|| x.id + 1`, `format!("{}", x + 1)`): rustc captures a
//!   non-`Copy` value by value there (a type of one's own may implement `Add<i32>` by
//!   value), a `Copy` one by reference, and the type is not known;
//! - `let ref x = temporary()`.
//!
//! Only `proc_macro2` is used, never `proc_macro`.

mod methods;
mod scope;
mod value;
mod walk;

#[cfg(test)]
mod tests;

use proc_macro2::TokenStream;
use quote::ToTokens;

/// Every capture of a borrow of a loop variable by an `enqueue!` in `body`, one error per
/// borrow, in source order, each on the borrow's own tokens.
///
/// `body` is the `#[atomic]` function's block; parameters and other names bound outside it
/// are not loop variables.
// Used by the unit tests and by the expansion bench (`runtime/benches/expand.rs`, which
// measures this stage alone); the macro itself uses `loop_borrows_and_parsed`.
#[allow(dead_code)]
pub(crate) fn loop_borrows(body: &syn::Block) -> Vec<syn::Error> {
    loop_borrows_and_parsed(body, &[]).0
}

/// The parameters of `sig` whose type names the `'static` lifetime (`tags: Vec<&'static
/// str>`, `names: &'static [&'static str]`): what they hold outlives any hook, so the items
/// of a loop over them borrow nothing of the loop.
pub(crate) fn static_params(sig: &syn::Signature) -> Vec<String> {
    sig.inputs
        .iter()
        .filter_map(|input| match input {
            syn::FnArg::Typed(typed) => Some(typed),
            syn::FnArg::Receiver(_) => None,
        })
        .filter(|typed| {
            typed
                .ty
                .to_token_stream()
                .into_iter()
                .any(|tt| matches!(tt, proc_macro2::TokenTree::Punct(ref p) if p.as_char() == '\''))
                && names_static(&typed.ty)
        })
        .filter_map(|typed| match &*typed.pat {
            syn::Pat::Ident(ident) => Some(ident.ident.to_string()),
            _ => None,
        })
        .collect()
}

/// Whether `ty` mentions the lifetime `'static`.
fn names_static(ty: &syn::Type) -> bool {
    struct Finder(bool);
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_lifetime(&mut self, lifetime: &'ast syn::Lifetime) {
            self.0 |= lifetime.ident == "static";
        }
    }
    let mut finder = Finder(false);
    syn::visit::Visit::visit_type(&mut finder, ty);
    finder.0
}

/// [`loop_borrows`], and the `enqueue!` inputs it parsed in `body`'s own tree, for the
/// rewrite to use instead of parsing them again.
pub(crate) fn loop_borrows_and_parsed(
    body: &syn::Block,
    static_params: &[String],
) -> (Vec<syn::Error>, crate::syntax::Parsed) {
    let mut walker = walk::Walker::new(body);
    walker.static_params(static_params);
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

/// What the expression at a finding's tokens is, as far as its owned copy goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A shared reference (`&T`): `.to_owned()` copies it.
    Ref,
    /// A shared reference to an unsized value (`&str`, `&[T]`, `&Path`): `.to_owned()`
    /// copies it, and a receiver of this type cannot be cloned into a hook.
    UnsizedRef,
    /// An `Option` of one: `.map(ToOwned::to_owned)` copies it.
    OptionRef,
    /// Anything else, or not known: the help names no method.
    Unknown,
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
    /// What the expression at `tokens` is: picks the owned copy the help suggests.
    pub shape: Shape,
}

/// `a.b()` stays as it is; `&x` or `a + b` gets parentheses before a method is appended.
fn parenthesized(text: &str) -> String {
    let simple = text.chars().all(|c| {
        c.is_alphanumeric()
            || matches!(c, '_' | '.' | '(' | ')' | '"' | ',' | ' ' | ':' | '[' | ']')
    });
    if simple && !text.starts_with('&') && !text.starts_with('*') {
        text.to_owned()
    } else {
        format!("({text})")
    }
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

    /// An owned copy of the borrowing expression at the finding's tokens, when its shape is
    /// known: `user.email.clone()` for `&user.email`, `name.trim().to_owned()`,
    /// `tags.first().map(ToOwned::to_owned)`.
    fn owned_copy(&self) -> Option<String> {
        let text = crate::syntax::source_text(self.tokens.clone());
        match (&self.shape, &self.kind) {
            (
                Shape::Ref,
                Kind::Reference {
                    place,
                    indexed,
                    mutable: false,
                },
            ) if text == format!("&{place}") || text == format!("& {place}") => Some(if *indexed {
                format!("{place}.to_owned()")
            } else {
                format!("{place}.clone()")
            }),
            (Shape::Ref, Kind::Reference { mutable: true, .. }) => None,
            (Shape::Ref | Shape::UnsizedRef, _) => {
                Some(format!("{}.to_owned()", parenthesized(&text)))
            }
            (Shape::OptionRef, _) => {
                Some(format!("{}.map(ToOwned::to_owned)", parenthesized(&text)))
            }
            (Shape::Unknown, _) => None,
        }
    }

    /// The `help:` line: the by-value fix for this case. A fix names a method only where
    /// the shape of what is borrowed is known; otherwise it says what to pass, not how.
    pub(crate) fn help(&self) -> String {
        let var = &self.var;
        let at = crate::syntax::source_text(self.tokens.clone());
        match (&self.kind, self.via.as_deref()) {
            (
                Kind::Reference {
                    place,
                    mutable: true,
                    ..
                },
                None,
            ) => format!(
                "capture by value: move `{place}` into the hook (pass `{place}`; the hook \
                 mutates its own value) instead of `&mut {place}`"
            ),
            (Kind::Reference { place, .. }, None) if place == var => format!(
                "capture by value: pass `{var}` (moved into the hook) or `{var}.clone()` \
                 instead of `&{var}`"
            ),
            (
                Kind::Method {
                    receiver,
                    call,
                    iterates: true,
                },
                None,
            ) if *call == at => {
                format!("capture by value: pass `{receiver}.clone()` and iterate inside the hook")
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
            (Kind::MovedAlias, Some(via)) => match self.owned_copy() {
                Some(copy) if at == via => format!(
                    "capture by value: make what moves into the closure owned, e.g. \
                     `let {via} = {copy};` before it"
                ),
                _ => format!(
                    "capture by value: make what moves into the closure owned: before it, \
                     bind `{via}` to an owned copy of the data it borrows from `{var}`"
                ),
            },
            _ => match self.owned_copy() {
                Some(copy) => format!(
                    "capture by value: pass `{copy}` instead of `{at}` (the call must take \
                     it by value)"
                ),
                None => format!(
                    "capture by value: pass an owned value instead of `{at}`, which borrows \
                     loop variable `{var}` (the hook outlives the iteration, so it cannot \
                     hold a borrow)"
                ),
            },
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
