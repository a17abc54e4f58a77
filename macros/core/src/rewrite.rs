//! Each `enqueue!` of an `#[atomic]` body (and the standalone `enqueue!(conn => CALL)`)
//! becomes a block that evaluates the call's receiver and arguments now, left to right, and
//! registers a hook that makes the call after COMMIT (forced value capture).
//!
//! A durable `enqueue!(outbox => JOB)` becomes a block that evaluates the job once and hands
//! a reference to it to `Conn::enqueue_job` (through the runtime's private module), which
//! serializes it at once: nothing is captured, so a job may borrow anything, loop variables
//! included. Inside an `#[atomic]` body the block ends in `?` (an outbox error is the fn's
//! error, converted by `From<oncommit::Error>`) and evaluates to the message id;
//! `enqueue!(conn => outbox => JOB)` evaluates to the `Result`, as `enqueue!(conn => CALL)`
//! does.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, Ident, Macro};

use crate::body::Rewrite;
use crate::enqueue::{Call, CallKind, EnqueueInput, Form, OutboxJob};
use crate::fallback::inert;
use crate::tokens::{Private, block_expr, used_marker};

/// The `enqueue!` rewriter of one `#[atomic]` fn.
pub(crate) struct Atomic {
    /// The connection place (`&mut *conn`), or `None` when the item has errors (then every
    /// `enqueue!` is only checked and made inert).
    pub(crate) conn: Option<TokenStream>,
    pub(crate) is_async: bool,
    pub(crate) fn_name: Ident,
    /// The connection's local name, when the body could shadow it (see
    /// `valid::conn_name`): `enqueue!(outbox => ..)` is ambiguous when it is `outbox`.
    pub(crate) conn_name: Option<Ident>,
    /// How many plain `enqueue!(CALL)` and `enqueue!(outbox => JOB)` were rewritten (they
    /// name the connection).
    pub(crate) plain: usize,
}

impl Rewrite for Atomic {
    fn rewrite(&mut self, mac: &Macro, input: EnqueueInput) -> syn::Result<Expr> {
        let site_span = mac.path.span();
        let (call, robust) = match &input.form {
            Form::Hook { call, robust } => (call, *robust),
            Form::Job(job) => return self.rewrite_job(mac, &input, job),
        };
        if call.awaited && !self.is_async {
            let name = &self.fn_name;
            return Err(syn::Error::new(
                call.await_span.unwrap_or(call.span),
                format!(
                    "this after-commit hook is async (its call ends in `.await`), but `fn {name}` \
                     is not async: hooks run after COMMIT inside `{name}`, so make it an \
                     `async fn`, or call a sync function"
                ),
            ));
        }
        let target = match (&input.conn, &self.conn) {
            (Some(conn), _) => Target::Explicit(conn),
            (None, Some(place)) => {
                self.plain += 1;
                Target::Defer(place)
            }
            (None, None) => return Ok(inert(mac, Some(&input))),
        };
        let tokens = capture(
            &input,
            call,
            robust,
            site_span,
            &target,
            Private::Alias,
            Some(&mac.path),
        );
        Ok(block_expr(site_span, tokens))
    }

    fn inert(&mut self, mac: &Macro) -> Expr {
        inert(mac, None)
    }
}

impl Atomic {
    /// `enqueue!(outbox => JOB)` on the fn's connection, or `enqueue!(conn => outbox => JOB)`.
    fn rewrite_job(
        &mut self,
        mac: &Macro,
        input: &EnqueueInput,
        job: &OutboxJob,
    ) -> syn::Result<Expr> {
        let tokens = match (&input.conn, &self.conn) {
            (Some(conn), _) => durable_job(
                job,
                &conn.to_token_stream(),
                false,
                Private::Alias,
                Some(&mac.path),
            ),
            (None, Some(place)) => {
                if let Some(name) = self.conn_name.as_ref().filter(|name| *name == "outbox") {
                    return Err(syn::Error::new(
                        job.outbox.span(),
                        format!(
                            "ambiguous `outbox =>`: `enqueue!(outbox => ..)` is the durable-job \
                             form, and `{name}` is also the connection of `fn {fn_name}`; write \
                             `enqueue!(outbox => outbox => JOB)` for a durable job on it, or \
                             rename the connection to defer a call on it (`enqueue!(CALL)`, \
                             `enqueue!(conn => CALL)`)",
                            fn_name = self.fn_name,
                        ),
                    ));
                }
                self.plain += 1;
                durable_job(job, place, true, Private::Alias, Some(&mac.path))
            }
            (None, None) => return Ok(inert(mac, Some(input))),
        };
        Ok(block_expr(mac.path.span(), tokens))
    }
}

/// The statements of the block of a durable `enqueue!`: the job evaluated once, into a
/// hidden local (so the job may use the connection), then `enqueue_job(CONN, &job)`, with
/// `?` when `tried` (inside an `#[atomic]` body; the block then evaluates to the message id)
/// and without (`enqueue!(conn => outbox => JOB)`: the block evaluates to the `Result`).
///
/// The call and the `?` are spanned on the `outbox` token; the job's borrow on the job, so
/// that a value that is not a `Job` is reported there.
pub(crate) fn durable_job(
    job: &OutboxJob,
    conn: &TokenStream,
    tried: bool,
    private: Private,
    used: Option<&syn::Path>,
) -> TokenStream {
    let mut out = match used {
        Some(path) => used_marker(path),
        None => TokenStream::new(),
    };
    let job_span = crate::syntax::span_of(&job.expr);
    // At the job's own span (a user span, not the expansion's): rustc reports a trait error
    // on an argument that comes from the expansion at the `#[atomic]` attribute, on this
    // one at the job. Only the generated call after it names it.
    let local = Ident::new("__oncommit_job", job_span);
    let expr = &job.expr;
    // `&` binds tighter than a binary operator, a cast or a range: those go in parentheses.
    let value = match expr {
        Expr::Path(_)
        | Expr::Field(_)
        | Expr::Index(_)
        | Expr::Call(_)
        | Expr::MethodCall(_)
        | Expr::Struct(_)
        | Expr::Lit(_)
        | Expr::Macro(_)
        | Expr::Tuple(_)
        | Expr::Array(_)
        | Expr::Paren(_)
        | Expr::Group(_) => expr.to_token_stream(),
        _ => quote_spanned!(job_span=> (#expr)),
    };
    out.extend(quote_spanned!(job_span=> let #local = &#value;));
    let outbox_span = job.outbox.span();
    let v1 = private.at(outbox_span);
    let question = tried.then(|| quote_spanned!(outbox_span=> ?));
    out.extend(quote_spanned!(outbox_span=> #v1::enqueue_job(#conn, #local) #question));
    out
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
/// invocation, for the [`used_marker`] first. `call` and `robust` are the input's
/// [`Form::Hook`].
///
/// The tokens are the ones syn prints for this code (e.g. `| |` for a closure without
/// parameters), written as `quote!` templates: nothing is parsed back into a syntax tree.
pub(crate) fn capture(
    input: &EnqueueInput,
    call: &Call,
    robust: bool,
    site_span: Span,
    target: &Target,
    private: Private,
    used: Option<&syn::Path>,
) -> TokenStream {
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
    // `CaptureReceiver` and `CaptureMutReceiver` traits, imported first), then the
    // arguments. The receiver's local is `mut`: the hook owns it, so a `&mut self` method
    // (a queue's `push`, redis's `rpush`) may be called on it.
    let mut deferred = TokenStream::new();
    let mut receiver_ident = None;
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
                // One of the two is used: a `&mut T` receiver takes the first, any other
                // place the second.
                out.extend(quote_spanned! {call_span=>
                    #[allow(unused_imports)]
                    use ::oncommit::__private::v1::{CaptureMutReceiver as _, CaptureReceiver as _};
                });
                let receiver = match &**receiver {
                    Expr::Path(_) | Expr::Field(_) | Expr::Index(_) => receiver.to_token_stream(),
                    other => quote!((#other)),
                };
                let v1 = private.at(span);
                out.extend(quote_spanned! {span=>
                    #[allow(unused_mut)]
                    let mut #recv = #v1::captured(#receiver.__oncommit_capture());
                });
            } else {
                let v1 = private.at(span);
                out.extend(quote_spanned! {span=>
                    #[allow(unused_mut)]
                    let mut #recv = #v1::captured(#receiver);
                });
            }
            deferred.extend(quote!(#recv.#method #turbofish (#(#arg_idents),*)));
            receiver_ident = Some(recv);
        }
        CallKind::Path { func, .. } => deferred.extend(quote!(#func(#(#arg_idents),*))),
    }
    for (ident, arg) in arg_idents.iter().zip(call.args()) {
        let span = crate::syntax::span_of(arg);
        let v1 = private.at(span);
        out.extend(quote_spanned!(span=> let #ident = #v1::captured(#arg);));
    }

    // The hook is one `FnMut(describe: bool)` closure that owns the arguments, each in a
    // slot: called with `false` it takes them out and makes the call; called with `true`
    // (once, before, and only while a `testing::Capture` is open) it gives their `Debug`
    // text. The call comes first in its body, so an argument whose type the call decides
    // (`None`, `x.into()`) is known when it is described, and the call's own coercions
    // (`&String` to `&str`) still apply.
    let v1 = private.at(Span::call_site());
    let slots: Vec<Ident> = (0..arg_idents.len())
        .map(|i| format_ident!("__oncommit_slot{}", i, span = Span::mixed_site()))
        .collect();
    let describe_flag = Ident::new("__oncommit_describe", Span::mixed_site());
    let describe_value = Ident::new("__oncommit_value", Span::mixed_site());
    let texts = slots.iter().map(|slot| {
        quote! {
            match &#slot {
                ::core::option::Option::Some(#describe_value) => {
                    (&#v1::Arg(#describe_value)).__oncommit_text()
                }
                ::core::option::Option::None => ::std::string::String::new(),
            }
        }
    });
    // The call: `CLOSURE()` inside the step, at the call's span.
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
    let make_hook = if call.awaited {
        quote_spanned!(call_span=> #call_v1::async_hook)
    } else {
        quote_spanned!(call_span=> #call_v1::sync_hook)
    };
    // The call's value, at the call's place (a wrong return type is reported there).
    let invoke = quote_spanned!(call_span=> #call_v1::call_now(#closure));
    let to_result = if call.awaited {
        quote_spanned!(call_span=> #call_v1::hook_future)
    } else {
        quote_spanned!(call_span=> #call_v1::hook_result)
    };
    let args = Ident::new("__oncommit_args", Span::mixed_site());
    // At the call's place: a type error of the hook (its return type) is reported once,
    // where the call is.
    let hook_ident = Ident::new("__oncommit_hook", Span::mixed_site().located_at(call_span));
    // The receiver waits in a slot too (the call moves it: a `&mut self` method may use it).
    let receiver_slot: Vec<Ident> = receiver_ident
        .iter()
        .map(|_| Ident::new("__oncommit_receiver_slot", Span::mixed_site()))
        .collect();
    let receiver_ident: Vec<Ident> = receiver_ident.into_iter().collect();
    let step = Ident::new("__oncommit_step", Span::mixed_site().located_at(call_span));
    out.extend(quote! {
        #(
            #[allow(unused_mut)]
            let mut #slots = ::core::option::Option::Some(#arg_idents);
        )*
        #(
            let mut #receiver_slot = ::core::option::Option::Some(#receiver_ident);
        )*
        let #step = move |#describe_flag: bool| {
            if !#describe_flag {
                if let (
                    #(::core::option::Option::Some(#receiver_ident),)*
                    #(::core::option::Option::Some(#arg_idents),)*
                ) = (#(#receiver_slot.take(),)* #(#slots.take(),)*) {
                    #(
                        #[allow(unused_mut)]
                        let mut #receiver_ident = #receiver_ident;
                    )*
                    return #v1::Step::Run(#to_result(#invoke));
                }
                return #v1::Step::Gone;
            }
            #[allow(unused_imports)]
            use ::oncommit::__private::v1::{ArgDebug as _, ArgTypeName as _};
            #v1::Step::Described([#(#texts),*])
        };
    });
    out.extend(quote_spanned! {call_span=>
        let (#hook_ident, #args) = #make_hook(#site, #robust, #step);
    });
    let hook = quote!(#hook_ident);

    // Registration: `defer(PLACE, HOOK);` or `enqueue(CONN, HOOK)` (`.await`ed when async).
    out.extend(match target {
        Target::Defer(place) => quote!(#v1::defer(#place, #hook, #args);),
        Target::Explicit(conn) if call.awaited => {
            quote!(#v1::enqueue_async(#conn, #hook, #args).await)
        }
        Target::Explicit(conn) => quote!(#v1::enqueue(#conn, #hook, #args)),
    });
    out
}
