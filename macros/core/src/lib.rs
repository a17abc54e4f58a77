//! The stages of `oncommit`'s macros, `#[atomic]` and `enqueue!`, as a library on
//! `proc_macro2` token streams. `oncommit-macros` is the proc-macro shim over
//! [`expand_atomic`] and [`expand_enqueue`]; the expansion bench and the unit tests use them
//! directly. Not a public API of `oncommit`: its only users are those two.
//!
//! Stages, in the order `#[atomic]` runs them: `attr` parses the options; `valid` checks the
//! fn (return type, connection) and builds the typed `model`, running `lint` (the
//! loop-borrow check) and `rewrite` (each `enqueue!` into a hook registration or a durable
//! job, found by `body`; its input parsed by `enqueue`); `expand` generates the fn from the
//! model; on any error, `fallback` emits the original item and the errors. `tokens` holds the
//! token helpers they share; `wrapped` finds the user's body in a fn that another attribute
//! macro (`#[tracing::instrument]`, `#[async_trait]`) rewrote before `#[atomic]` ran.

mod attr;
mod body;
mod enqueue;
mod expand;
mod fallback;
mod lint;
mod model;
mod rewrite;
mod syntax;
mod tokens;
mod valid;
mod wrapped;

use proc_macro2::TokenStream;

/// `#[atomic(args)] item`: the expanded fn, or the original item with its `enqueue!`s made
/// inert plus every error found (so an IDE keeps resolving the item).
///
/// ```
/// use quote::quote;
/// let out = oncommit_macros_core::expand_atomic(
///     quote!(),
///     quote!(fn f(conn: &mut Conn<M>) -> Result<(), Error> { Ok(()) }),
/// );
/// assert!(out.to_string().contains("begin"));
/// ```
pub fn expand_atomic(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand_atomic(args, item)
}

/// [`expand_atomic`] without the loop-borrow check's errors (the rest of the validation
/// stays): for the stress test (`ui-tests/tests/stress.rs`), what rustc says without the
/// check. Where the check finds nothing, the output is exactly [`expand_atomic`]'s.
///
/// ```
/// use quote::quote;
/// let item = quote!(fn f(conn: &mut Conn<M>, users: Vec<User>) -> Result<(), Error> {
///     for user in users {
///         enqueue!(mailer.send(&user.email));
///     }
///     Ok(())
/// });
/// let checked = oncommit_macros_core::expand_atomic(quote!(), item.clone()).to_string();
/// assert!(checked.contains("would capture"));
/// let unchecked = oncommit_macros_core::expand_atomic_unchecked(quote!(), item).to_string();
/// assert!(!unchecked.contains("compile_error") && unchecked.contains("begin"));
/// ```
#[doc(hidden)]
pub fn expand_atomic_unchecked(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand_atomic_unchecked(args, item)
}

/// `enqueue!(tokens)` outside `#[atomic]`: `enqueue!(conn => CALL)` defers or runs the call,
/// `enqueue!(conn => outbox => JOB)` enqueues a durable job; a plain `enqueue!(CALL)` or
/// `enqueue!(outbox => JOB)` is an error that says to use `#[atomic]` or name the connection.
///
/// ```
/// use quote::quote;
/// let out = oncommit_macros_core::expand_enqueue(quote!(conn => mailer.send(id)));
/// assert!(out.to_string().contains("enqueue"));
/// ```
pub fn expand_enqueue(tokens: TokenStream) -> TokenStream {
    expand::expand_enqueue(tokens)
}

/// The loop-borrow check alone, on a fn body: one error per `enqueue!` that would capture a
/// borrow of a loop variable (what `#[atomic]` reports before generating anything).
///
/// ```
/// let body: syn::Block = syn::parse_quote!({
///     for user in users {
///         enqueue!(mailer.send(&user.email));
///     }
/// });
/// assert_eq!(oncommit_macros_core::loop_borrows(&body).len(), 1);
/// ```
pub fn loop_borrows(body: &syn::Block) -> Vec<syn::Error> {
    lint::loop_borrows(body)
}
