//! Procedural macros of `oncommit`. Use them through the `oncommit` crate, which documents
//! `#[atomic]` and `enqueue!` with examples.
//!
//! Stages, each in its own module using only `proc_macro2`: [`attr`] parses the options of
//! `#[atomic]`, [`enqueue`] parses the input of `enqueue!`, [`body`] finds every `enqueue!` in
//! a body, [`lint`] is the loop-borrow check, and [`expand`] generates the code.

use proc_macro::TokenStream;

mod attr;
mod body;
mod enqueue;
mod expand;
mod lint;

/// Makes the function body one transaction on its `&mut Conn<..>` parameter (or on
/// `#[atomic(conn = EXPR)]`), and defers each `enqueue!(CALL)` in it until the outermost
/// COMMIT. See the `oncommit` crate.
#[proc_macro_attribute]
pub fn atomic(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand_atomic(args.into(), item.into()).into()
}

/// `enqueue!(conn => CALL)`: defers `CALL` until `conn` commits, or runs it now outside a
/// transaction. `enqueue!(CALL)` belongs inside an `#[atomic]` fn. See the `oncommit` crate.
#[proc_macro]
pub fn enqueue(input: TokenStream) -> TokenStream {
    expand::expand_enqueue(input.into()).into()
}
