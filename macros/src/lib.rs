//! Procedural macros of `oncommit`. Use them through the `oncommit` crate.

use proc_macro::TokenStream;

#[allow(dead_code)] // used by expand.rs (in progress)
mod enqueue;

/// Makes the function body one transaction (placeholder until the macro crate lands).
#[proc_macro_attribute]
pub fn atomic(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}

/// Defers a call until the outermost COMMIT (placeholder until the macro crate lands).
#[proc_macro]
pub fn enqueue(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}
