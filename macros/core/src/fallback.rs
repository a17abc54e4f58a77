//! The IDE fallback: when the item has errors, the original fn is emitted with its
//! `enqueue!`s made inert, plus every error (so rust-analyzer keeps resolving the item, and
//! one mistake does not cascade into many).

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Expr, ItemFn, Macro};

use crate::body::{self, Rewrite};
use crate::enqueue::{EnqueueInput, Form};
use crate::tokens::{block_expr, used_marker};

/// Collects errors, to report them all at once.
#[derive(Default)]
pub(crate) struct Errors(Vec<syn::Error>);

impl Errors {
    pub(crate) fn take<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.0.push(error);
                None
            }
        }
    }

    pub(crate) fn extend(&mut self, errors: impl IntoIterator<Item = syn::Error>) {
        self.0.extend(errors);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn combined(&self) -> Option<syn::Error> {
        let mut iter = self.0.iter().cloned();
        let mut first = iter.next()?;
        for error in iter {
            first.combine(error);
        }
        Some(first)
    }
}

pub(crate) fn with_errors(item: TokenStream, error: syn::Error) -> TokenStream {
    let mut out = item;
    out.extend(error.into_compile_error());
    out
}

/// The original fn, its `enqueue!`s replaced by inert expressions that still name the
/// captured values (no cascade of "unused" or "outside #[atomic]" errors), plus the errors.
pub(crate) fn fallback(mut func: ItemFn, errors: Errors) -> TokenStream {
    let _ = body::rewrite_block(&mut func.block, &mut Inert);
    // A second `#[atomic]` (an error already) would expand the inert body again.
    func.attrs.retain(|attr| !is_atomic(attr));
    // The fn does not compile anyway: no "unused variable" noise on top of the errors.
    func.attrs
        .push(syn::parse_quote!(#[allow(unused_variables)]));
    let errors = errors.combined().map(syn::Error::into_compile_error);
    quote!(#func #errors)
}

/// `enqueue!` replaced without running anything: used when the item has errors.
pub(crate) struct Inert;

impl Rewrite for Inert {
    fn rewrite(&mut self, mac: &Macro, input: EnqueueInput) -> syn::Result<Expr> {
        Ok(inert(mac, Some(&input)))
    }

    fn inert(&mut self, mac: &Macro) -> Expr {
        inert(mac, None)
    }
}

pub(crate) fn inert(mac: &Macro, input: Option<&EnqueueInput>) -> Expr {
    let values = input.map(EnqueueInput::values).unwrap_or_default();
    let explicit = input.is_some_and(|input| input.conn.is_some());
    let durable = input.is_some_and(|input| matches!(input.form, Form::Job(_)));
    let mut tokens = used_marker(&mac.path);
    // A closure that is never called: the values are type-checked and count as used, but
    // nothing is evaluated, moved or borrowed beyond the closure. (`| |`, not `||`: the
    // tokens as syn prints a closure without parameters.)
    if !values.is_empty() {
        tokens.extend(quote!(let _ = | | { let _ = (#(&#values,)*); };));
    }
    // The value the `enqueue!` stands for, so that its uses type-check: a durable job's
    // message id, and the `Result` of the explicit forms.
    let value = durable.then(|| quote!(::oncommit::__private::v1::inert_message_id()));
    match (explicit, value) {
        (true, Some(value)) => tokens.extend(quote!(
            ::core::result::Result::<_, ::oncommit::Error>::Ok(#value)
        )),
        (true, None) => tokens.extend(quote!(::core::result::Result::<(), ::oncommit::Error>::Ok(
            ()
        ))),
        (false, Some(value)) => tokens.extend(value),
        (false, None) => {}
    }
    block_expr(Span::call_site(), tokens)
}

/// `#[atomic]` or `#[oncommit::atomic]`.
pub(crate) fn is_atomic(attr: &syn::Attribute) -> bool {
    let path = attr.path();
    path.segments.last().is_some_and(|s| s.ident == "atomic")
        && (path.segments.len() == 1
            || path.segments.first().is_some_and(|s| s.ident == "oncommit"))
}
