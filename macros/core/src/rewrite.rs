//! Each `enqueue!` of an `#[atomic]` body (and the standalone `enqueue!(conn => CALL)`)
//! becomes a block that evaluates the call's receiver and arguments now, left to right, and
//! registers a hook that makes the call after COMMIT (forced value capture).

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, Ident, Macro};

use crate::body::Rewrite;
use crate::enqueue::{CallKind, EnqueueInput};
use crate::fallback::inert;
use crate::tokens::{Private, block_expr, used_marker};

/// The `enqueue!` rewriter of one `#[atomic]` fn.
pub(crate) struct Atomic {
    /// The connection place (`&mut *conn`), or `None` when the item has errors (then every
    /// `enqueue!` is only checked and made inert).
    pub(crate) conn: Option<TokenStream>,
    pub(crate) is_async: bool,
    pub(crate) fn_name: Ident,
    /// How many plain `enqueue!(CALL)` were rewritten (they name the connection).
    pub(crate) plain: usize,
}

impl Rewrite for Atomic {
    fn rewrite(&mut self, mac: &Macro, input: EnqueueInput) -> syn::Result<Expr> {
        if input.call.awaited && !self.is_async {
            let name = &self.fn_name;
            return Err(syn::Error::new(
                input.call.await_span.unwrap_or(input.call.span),
                format!(
                    "this after-commit hook is async (its call ends in `.await`), but `fn {name}` \
                     is not async: hooks run after COMMIT inside `{name}`, so make it an \
                     `async fn`, or call a sync function"
                ),
            ));
        }
        let site_span = mac.path.span();
        let target = match (&input.conn, &self.conn) {
            (Some(conn), _) => Target::Explicit(conn),
            (None, Some(place)) => {
                self.plain += 1;
                Target::Defer(place)
            }
            (None, None) => return Ok(inert(mac, Some(&input))),
        };
        let tokens = capture(&input, site_span, &target, Private::Alias, Some(&mac.path));
        Ok(block_expr(site_span, tokens))
    }

    fn inert(&mut self, mac: &Macro) -> Expr {
        inert(mac, None)
    }
}

/// Where the hook goes.
pub(crate) enum Target<'a> {
    /// Inside an `#[atomic]` body: `defer(place, hook)`, evaluates to `()`.
    Defer(&'a TokenStream),
    /// `enqueue!(conn => CALL)`: `enqueue(conn, hook)`, evaluates to `Result<(), Error>`.
    Explicit(&'a Expr),
}

/// The statements of the block that evaluates the captured values now and registers the
/// hook (the caller puts them in braces carrying the `enqueue!`'s span, so a type error on
/// the whole replacement points there). `used`: the `enqueue` path of a replaced
/// invocation, for the [`used_marker`] first.
///
/// The tokens are the ones syn prints for this code (e.g. `| |` for a closure without
/// parameters), written as `quote!` templates: nothing is parsed back into a syntax tree.
pub(crate) fn capture(
    input: &EnqueueInput,
    site_span: Span,
    target: &Target,
    private: Private,
    used: Option<&syn::Path>,
) -> TokenStream {
    let call = &input.call;
    let call_span = call.span;
    let call_v1 = private.at(call_span);
    let mut out = match used {
        Some(path) => used_marker(path),
        None => TokenStream::new(),
    };
    let arg_idents: Vec<Ident> = (0..call.args().len())
        .map(|i| format_ident!("__oncommit_arg{}", i, span = Span::mixed_site()))
        .collect();

    // The values, evaluated now: the receiver (a place is cloned through the
    // `CaptureReceiver` trait, imported first), then the arguments.
    let mut deferred = TokenStream::new();
    match &call.kind {
        CallKind::Method {
            receiver,
            method,
            turbofish,
            ..
        } => {
            let recv = Ident::new("__oncommit_receiver", Span::mixed_site());
            let span = crate::syntax::span_of(receiver);
            if crate::syntax::is_place(receiver) {
                out.extend(
                    quote_spanned!(call_span=> use ::oncommit::__private::v1::CaptureReceiver as _;),
                );
                let receiver = match &**receiver {
                    Expr::Path(_) | Expr::Field(_) | Expr::Index(_) => receiver.to_token_stream(),
                    other => quote!((#other)),
                };
                let v1 = private.at(span);
                out.extend(quote_spanned! {span=>
                    let #recv = #v1::captured(#receiver.__oncommit_capture());
                });
            } else {
                let v1 = private.at(span);
                out.extend(quote_spanned! {span=>
                    let #recv = #v1::captured(#receiver);
                });
            }
            deferred.extend(quote!(#recv.#method #turbofish (#(#arg_idents),*)));
        }
        CallKind::Path { func, .. } => deferred.extend(quote!(#func(#(#arg_idents),*))),
    }
    for (ident, arg) in arg_idents.iter().zip(call.args()) {
        let span = crate::syntax::span_of(arg);
        let v1 = private.at(span);
        out.extend(quote_spanned!(span=> let #ident = #v1::captured(#arg);));
    }

    // The hook: `MAKE_HOOK(SITE, ROBUST, CLOSURE)`, all at the call's span.
    let closure = match (call.awaited, call.tried) {
        (false, false) => quote_spanned!(call_span=> move | | #deferred),
        (false, true) => quote_spanned! {call_span=>
            move | | -> ::core::result::Result<_, ::oncommit::BoxError> {
                ::core::result::Result::Ok(#deferred?)
            }
        },
        (true, false) => quote_spanned!(call_span=> move | | async move { #deferred.await }),
        (true, true) => quote_spanned! {call_span=>
            move | | async move {
                ::core::result::Result::<_, ::oncommit::BoxError>::Ok(#deferred.await?)
            }
        },
    };
    let mut text = proc_macro2::Literal::string(&input.text);
    text.set_span(site_span);
    let site_v1 = private.at(site_span);
    let site = quote_spanned! {site_span=>
        const {
            &#site_v1::StaticSite {
                call: #text,
                location: #site_v1::Location::caller(),
            }
        }
    };
    let robust = input.robust;
    let make_hook = if call.awaited {
        quote_spanned!(call_span=> #call_v1::async_hook)
    } else {
        quote_spanned!(call_span=> #call_v1::sync_hook)
    };
    let hook = quote_spanned!(call_span=> #make_hook(#site, #robust, #closure));

    // Registration: `defer(PLACE, HOOK);` or `enqueue(CONN, HOOK)` (`.await`ed when async).
    let v1 = private.at(Span::call_site());
    out.extend(match target {
        Target::Defer(place) => quote!(#v1::defer(#place, #hook);),
        Target::Explicit(conn) if call.awaited => quote!(#v1::enqueue_async(#conn, #hook).await),
        Target::Explicit(conn) => quote!(#v1::enqueue(#conn, #hook)),
    });
    out
}
