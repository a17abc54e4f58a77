//! Code generation: `#[atomic]` around a fn body, and each `enqueue!` with forced value
//! capture.
//!
//! ```text
//! // async fn f(conn: &mut Conn<C>, ..) -> Result<T, E> { BODY }
//! let convert: fn(oncommit::Error) -> _ = begin_failed;       // E: From<oncommit::Error>, checked here
//! let level = match begin_async(&mut *conn, DURABLE).await { Ok(l) => l, Err(e) => return Err(convert(e)) };
//! let result = body_async::<Result<T, E>, _>(async { BODY' }).await;   // sync: body::<R, _>(|| BODY')
//! finish_atomic_async(&mut *conn, level, result, convert).await
//! ```
//!
//! `BODY'` is `BODY` with each `enqueue!(CALL)` replaced by a block that evaluates the
//! receiver and the arguments into hidden locals, left to right, and moves them into a hook
//! deferred on the connection; and each `enqueue!(outbox => JOB)` by
//!
//! ```text
//! { let job = &JOB; enqueue_job(&mut *conn, job)? }   // the message id; `?` converts to E
//! ```

use proc_macro2::{Delimiter, Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{FnArg, Ident, ItemFn, Pat, Signature, Type};

use crate::attr::AtomicArgs;
use crate::enqueue::{self, Form};
use crate::model::{AtomicFn, Transaction};
use crate::rewrite::{Target, capture, durable_job};
use crate::tokens::{Private, block, group};
use crate::valid::{self, conn_name, root_ident};

/// `#[atomic(args)] item`: the expanded fn, or the original item with its `enqueue!`s made
/// inert plus every error found (so an IDE keeps resolving the item).
pub fn expand_atomic(args: TokenStream, item: TokenStream) -> TokenStream {
    match valid::validate(args, item, true) {
        Ok(model) => generate(model),
        Err(fallback) => fallback,
    }
}

/// [`expand_atomic`] without the loop-borrow check's errors: for the stress test, what rustc
/// says without the check.
pub fn expand_atomic_unchecked(args: TokenStream, item: TokenStream) -> TokenStream {
    match valid::validate(args, item, false) {
        Ok(model) => generate(model),
        Err(fallback) => fallback,
    }
}

/// The standalone `enqueue!`: `enqueue!(conn => CALL)` and `enqueue!(conn => outbox => JOB)`
/// anywhere; `enqueue!(CALL)` and `enqueue!(outbox => JOB)` are errors outside `#[atomic]`
/// (inside one, the attribute has already replaced them).
pub fn expand_enqueue(tokens: TokenStream) -> TokenStream {
    if is_used_marker(&tokens) {
        return TokenStream::new();
    }
    let input = match enqueue::parse(tokens) {
        Ok(input) => input,
        Err(error) => return error.into_compile_error(),
    };
    let Some(conn) = input.conn.clone() else {
        let error = match &input.form {
            Form::Hook { .. } => syn::Error::new(
                input.span,
                format!(
                    "`enqueue!(CALL)` must be inside an #[atomic] fn, which knows the \
                     connection; put it in an #[atomic] fn, or name the connection: \
                     `enqueue!(conn => CALL)`\n{COPIED_BODY}"
                ),
            ),
            Form::Job(job) => syn::Error::new(
                job.outbox.span(),
                format!(
                    "`enqueue!(outbox => JOB)` must be inside an #[atomic] fn, which knows the \
                     connection; put it in an #[atomic] fn, or name the connection: \
                     `enqueue!(conn => outbox => JOB)`\n{COPIED_BODY}"
                ),
            ),
        };
        return error.into_compile_error();
    };
    let tokens = match &input.form {
        Form::Hook { call, robust } => capture(
            &input,
            call,
            *robust,
            Span::call_site(),
            &Target::Explicit(&conn),
            Private::Full,
            None,
        ),
        Form::Job(job) => durable_job(job, &conn.to_token_stream(), false, Private::Full, None),
    };
    block(Span::call_site(), tokens)
}

/// The second line of the "outside `#[atomic]`" errors: an attribute macro that runs before
/// `#[atomic]` may copy the body into a fn of its own, without `#[atomic]` (axum's
/// `#[debug_handler]` does, for its checks).
const COPIED_BODY: &str = "note: if it is inside an #[atomic] fn, an attribute macro written \
     above #[atomic] copied the body out of it (axum's `#[debug_handler]` does): write \
     #[atomic] above that attribute; or it is written inside a `macro_rules!` macro, whose \
     expansion #[atomic] does not see: name the connection there";

/// `enqueue!(@used)`: what `#[atomic]` leaves behind for each `enqueue!` it replaced, so the
/// user's `use oncommit::enqueue;` counts as used. Expands to nothing.
fn is_used_marker(tokens: &TokenStream) -> bool {
    let mut iter = tokens.clone().into_iter();
    matches!(
        (iter.next(), iter.next(), iter.next()),
        (
            Some(proc_macro2::TokenTree::Punct(at)),
            Some(proc_macro2::TokenTree::Ident(used)),
            None,
        ) if at.as_char() == '@' && used == "used"
    )
}

/// `impl Trait` becomes `_`, so the type can be a turbofish argument.
struct InferImplTrait;

impl VisitMut for InferImplTrait {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(_) = ty {
            *ty = syn::parse_quote!(_);
            return;
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }
}

fn generate(model: AtomicFn) -> TokenStream {
    let AtomicFn {
        func,
        block,
        args,
        transaction,
        ret,
        conn,
        is_async,
        wrapper,
    } = model;
    let (args, transaction, ret, conn) = (&args, &transaction, &ret, &conn);
    let ItemFn {
        attrs, vis, sig, ..
    } = func;
    let mut ret_infer = ret.clone();
    InferImplTrait.visit_type_mut(&mut ret_infer);
    let durable = args.durable.is_present();
    let level = Ident::new("__oncommit_level", Span::mixed_site());
    let result = Ident::new("__oncommit_result", Span::mixed_site());
    let error = Ident::new("__oncommit_error", Span::mixed_site());
    let convert = Ident::new("__oncommit_convert", Span::mixed_site());
    // The one place that needs `E: From<oncommit::Error>`, at the return type: a missing impl
    // is one error there.
    let v1 = Private::Alias.at(Span::call_site());
    let ret_v1 = Private::Alias.at(ret.span());
    let convert_fn = quote_spanned!(ret.span()=> #ret_v1::begin_failed);
    // `Result` in, `Result` out, through a trait bound once, at the return type: a return
    // type that is not a `Result` is an error there, not a cascade of mismatches.
    let into = Ident::new("__oncommit_into", Span::mixed_site());
    let from_result = Ident::new("__oncommit_from", Span::mixed_site());
    let into_fn = quote_spanned!(ret.span()=> #ret_v1::AtomicReturn::__oncommit_into);
    let from_fn = quote_spanned!(ret.span()=> #ret_v1::AtomicReturn::__oncommit_from);
    let prelude = quote! {
        let #convert: fn(::oncommit::Error) -> _ = #convert_fn;
        let #into: fn(#ret_infer) -> _ = #into_fn;
        let #from_result: fn(_) -> #ret_infer = #from_fn;
    };
    let from = quote!(#from_result(::core::result::Result::Err(#convert(#error))));
    let (begin_async, begin_sync) = match &transaction.options {
        None => (
            quote!(#v1::begin_async(#conn, #durable)),
            quote!(#v1::begin(#conn, #durable)),
        ),
        Some(options) => (
            quote!(#v1::begin_async_with(#conn, #durable, #options)),
            quote!(#v1::begin_with(#conn, #durable, #options)),
        ),
    };
    // The fn body is assembled by moving each piece into place: the user's statements are
    // printed once, never copied again.
    let mut fn_body = Private::import();
    if let Some(expr) = &args.conn {
        fn_body
            .extend(quote_spanned!(expr.span()=> use ::oncommit::__private::v1::ConnPlace as _;));
    }
    fn_body.extend(prelude);
    if transaction.retries.is_some() {
        let check = quote_spanned!(ret.span()=> #ret_v1::transient_check);
        fn_body.extend(retry_loop(
            &sig,
            is_async,
            args,
            transaction,
            &ret_infer,
            block,
            conn,
            &check,
        ));
    } else if is_async {
        fn_body.extend(quote! {
            let #level = match #begin_async.await {
                ::core::result::Result::Ok(#level) => #level,
                ::core::result::Result::Err(#error) => return #from,
            };
            let #result =
        });
        fn_body.extend(async_body(&sig, args, &ret_infer, block));
        fn_body.extend(quote! {
            ;
            #from_result(
                #v1::finish_atomic_async(#conn, #level, #into(#result), #convert)
                    .await,
            )
        });
    } else {
        fn_body.extend(quote! {
            let #level = match #begin_sync {
                ::core::result::Result::Ok(#level) => #level,
                ::core::result::Result::Err(#error) => return #from,
            };
            let #result = #v1::body::<#ret_infer, _>(|| #block);
            #from_result(#v1::finish_atomic(
                #conn, #level, #into(#result), #convert,
            ))
        });
    }
    let mut out = quote!(#(#attrs)* #vis #sig);
    match wrapper {
        // Where the user's body was, inside the other macro's wrapper.
        Some(wrapper) => wrapper.fill(fn_body).to_tokens(&mut out),
        None => out.extend(group(Delimiter::Brace, Span::call_site(), fn_body)),
    }
    out
}

/// The fn body of an `#[atomic]` fn with transaction options or `retry`: BEGIN with the
/// options, the body, COMMIT, and with `retry` a loop that runs them again after a transient
/// failure of the outermost transaction. The body is borrowed, not moved, by each attempt
/// (`async { .. }`, not `async move`), so a parameter is moved only by a body that moves it
/// (which rustc then reports as a move in an earlier iteration: such a body cannot be run
/// twice).
// Each argument is a separate piece of the model (the fn's parameters, whether the body
// runs async, which is not the signature's say under a wrapper, the options, ...).
#[allow(clippy::too_many_arguments)]
fn retry_loop(
    sig: &Signature,
    is_async: bool,
    args: &AtomicArgs,
    transaction: &Transaction,
    ret_infer: &Type,
    block: syn::Block,
    conn: &TokenStream,
    transient_check: &TokenStream,
) -> TokenStream {
    let v1 = Private::Alias.at(Span::call_site());
    let durable = args.durable.is_present();
    let level = Ident::new("__oncommit_level", Span::mixed_site());
    let result = Ident::new("__oncommit_result", Span::mixed_site());
    let error = Ident::new("__oncommit_error", Span::mixed_site());
    let convert = Ident::new("__oncommit_convert", Span::mixed_site());
    let into = Ident::new("__oncommit_into", Span::mixed_site());
    let from_result = Ident::new("__oncommit_from", Span::mixed_site());
    let attempt = Ident::new("__oncommit_attempt", Span::mixed_site());
    let outermost = Ident::new("__oncommit_outermost", Span::mixed_site());
    let transient = Ident::new("__oncommit_transient", Span::mixed_site());
    let from = quote!(#from_result(::core::result::Result::Err(#convert(#error))));
    let options = transaction
        .options
        .clone()
        .unwrap_or_else(|| quote!(#v1::TxOptions::new()));
    let retries = transaction.retries.unwrap_or(0);
    let (begin, finish, dot_await) = if is_async {
        (
            quote!(#v1::begin_async_with),
            quote!(#v1::finish_atomic_async),
            quote!(.await),
        )
    } else {
        (
            quote!(#v1::begin_with),
            quote!(#v1::finish_atomic),
            quote!(),
        )
    };
    // Each attempt reborrows the `&mut` parameters, so that a body passing one on (which
    // moves the reference) can still run again.
    let reborrows = sig.inputs.iter().filter_map(|arg| match arg {
        FnArg::Typed(typed) => match (&*typed.pat, &*typed.ty) {
            (Pat::Ident(pat), Type::Reference(reference))
                if reference.mutability.is_some()
                    && pat.by_ref.is_none()
                    && pat.subpat.is_none() =>
            {
                let ident = &pat.ident;
                Some(quote! {
                    #[allow(unused_variables)]
                    let #ident = &mut *#ident;
                })
            }
            _ => None,
        },
        FnArg::Receiver(_) => None,
    });
    let reborrows: TokenStream = reborrows.collect();
    // Errors about the body (a value moved by an earlier attempt) point at the body.
    let body = if is_async {
        let async_token = quote_spanned!(block.span()=> async);
        let fake = fake_return(ret_infer);
        quote!(#v1::body_async::<#ret_infer, _>(#async_token { #fake #block }).await)
    } else {
        let closure = quote_spanned!(block.span()=> ||);
        quote!(#v1::body::<#ret_infer, _>(#closure #block))
    };
    quote! {
        let #transient = #transient_check::<#ret_infer>();
        let mut #attempt: u32 = 0;
        loop {
            #reborrows
            let #outermost = #v1::outermost(#conn);
            let #level = match #begin(#conn, #durable, #options) #dot_await {
                ::core::result::Result::Ok(#level) => #level,
                ::core::result::Result::Err(#error) => return #from,
            };
            let #result = #body;
            let #result = #finish(#conn, #level, #into(#result), #convert) #dot_await;
            if #v1::again(&#result, #outermost, &mut #attempt, #retries, #transient) {
                continue;
            }
            break #from_result(#result);
        }
    }
}

/// `if false { return <a value of the fn's return type>; }`, first in an async body: an async
/// block's return type is inferred from the first `return` rustc checks, without the
/// expectation an async fn has, so this one fixes it to the fn's return type and the body's
/// own `return`s and tail coerce to it (as `tracing::instrument` does for async fns).
fn fake_return(ret_infer: &Type) -> TokenStream {
    let fake = Ident::new("__oncommit_fake_return", Span::mixed_site());
    quote! {
        #[allow(
            unknown_lints,
            unreachable_code,
            clippy::diverging_sub_expression,
            clippy::empty_loop,
            clippy::let_unit_value,
            clippy::let_with_type_underscore,
            clippy::needless_return,
            clippy::unreachable
        )]
        if false {
            let #fake: #ret_infer = loop {};
            return #fake;
        }
    }
}

/// The body of an async `#[atomic]` fn, as the future it awaits.
///
/// The block starts with [`fake_return`], so the tail expression and every `return` get the
/// return type's coercions (`Box<u8>` to `Box<dyn Debug>`, `&String` to `&str`), as they
/// would in the fn itself. The async body owns the parameters it uses (`async move`), as the fn body would: a
/// by-value parameter used by reference must not make the future need `Sync`. The
/// connection parameter is shadowed by a reborrow for it, so `finish` can use it after.
/// With `conn = EXPR` (usually `self.db`), `self` is needed after the body: no `move`.
fn async_body(
    sig: &Signature,
    args: &AtomicArgs,
    ret_infer: &Type,
    block: syn::Block,
) -> TokenStream {
    let v1 = Private::Alias.at(Span::call_site());
    let body_async = quote!(#v1::body_async::<#ret_infer, _>);
    match (&args.conn, conn_name(sig, args)) {
        (None, Some(name)) => {
            let mut future = quote!(async move);
            let mut inner = fake_return(ret_infer);
            block.to_tokens(&mut inner);
            future.extend(group(Delimiter::Brace, Span::call_site(), inner));
            let mut tokens = quote! {
                #[allow(unused_variables)]
                let #name = &mut *#name;
            };
            tokens.extend(body_async);
            tokens.extend(group(Delimiter::Parenthesis, Span::call_site(), future));
            tokens.extend(quote!(.await));
            group(Delimiter::Brace, Span::call_site(), tokens)
        }
        _ => {
            // `self` must stay usable for `finish`: no `move`, but the by-value parameters are
            // moved in by a first statement, so the block owns them as `async move` would.
            let conn_root = args.conn.as_ref().and_then(root_ident);
            let owned = sig.inputs.iter().filter_map(|arg| match arg {
                FnArg::Typed(typed) => match &*typed.pat {
                    Pat::Ident(pat)
                        if pat.by_ref.is_none()
                            && pat.subpat.is_none()
                            && conn_root.as_ref() != Some(&pat.ident) =>
                    {
                        let (mutability, ident) = (&pat.mutability, &pat.ident);
                        Some(quote! {
                            #[allow(unused_variables, unused_mut, clippy::redundant_locals)]
                            let #mutability #ident = #ident;
                        })
                    }
                    _ => None,
                },
                FnArg::Receiver(_) => None,
            });
            let stmts = &block.stmts;
            let mut tokens = body_async;
            let fake = fake_return(ret_infer);
            tokens.extend(quote! {
                (async {
                    #fake
                    #(#owned)*
                    #(#stmts)*
                })
                .await
            });
            tokens
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(args: TokenStream, item: TokenStream) -> String {
        expand_atomic(args, item).to_string()
    }

    #[test]
    fn sync_fn_wraps_body_and_defers() {
        let out = expand(
            quote!(),
            quote! {
                fn f(conn: &mut Conn<Memory>, mailer: &Mailer, id: u64) -> Result<(), Error> {
                    enqueue!(mailer.send(id));
                    Ok(())
                }
            },
        );
        assert!(
            out.contains("{ use :: oncommit :: __private :: v1 as __oncommit_v1 ;"),
            "the body imports the alias first: {out}"
        );
        assert!(out.contains("__oncommit_v1 :: begin (& mut * conn , false)"));
        assert!(out.contains("__oncommit_capture ()"), "{out}");
        // The hook owns the receiver: a `&mut self` method may be called on it, and a
        // `&mut T` place is cloned as a `T`.
        assert!(out.contains("let mut __oncommit_receiver"), "{out}");
        assert!(
            out.contains("{ CaptureMutReceiver as _ , CaptureReceiver as _ }"),
            "{out}"
        );
        assert!(out.contains("__oncommit_v1 :: defer (& mut * conn"));
        assert!(out.contains("call : \"mailer.send(id)\""), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn errors_keep_the_item() {
        let out = expand(
            quote!(durabel),
            quote! {
                fn f(conn: &mut Conn<Memory>) -> Result<(), Error> {
                    enqueue!(send(1));
                    Ok(())
                }
            },
        );
        assert!(out.contains("fn f"), "{out}");
        assert!(out.contains("compile_error"), "{out}");
        assert!(
            !out.contains("enqueue ! (send"),
            "enqueue! made inert: {out}"
        );
    }

    #[test]
    fn missing_and_ambiguous_conn() {
        let none = expand(
            quote!(),
            quote!(
                fn f(x: u8) -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(none.contains("conn = EXPR"), "{none}");
        let two = expand(
            quote!(),
            quote!(
                fn f(a: &mut Conn<M>, b: &mut oncommit::Conn<M>) -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(two.contains("several"), "{two}");
        let with_option = expand(
            quote!(conn = a),
            quote!(
                fn f(a: &mut Conn<M>, b: &mut oncommit::Conn<M>) -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(!with_option.contains("compile_error"), "{with_option}");
    }

    #[test]
    fn conn_under_another_name() {
        // An alias: the one `&mut` parameter, through the type check.
        for item in [
            quote!(
                fn f(db: &mut Db, n: u8) -> Result<(), E> {
                    Ok(())
                }
            ),
            quote!(
                fn f(tx: &mut Tx<M>, log: &Log) -> Result<(), E> {
                    Ok(())
                }
            ),
            quote!(
                fn f(queue: &mut Q, db: &mut Db) -> Result<(), E> {
                    Ok(())
                }
            ),
        ] {
            let out = expand(quote!(), item);
            assert!(!out.contains("compile_error"), "{out}");
            assert!(
                out.contains("__oncommit_v1 :: atomic_conn (& mut * db)")
                    || out.contains("__oncommit_v1 :: atomic_conn (& mut * tx)"),
                "{out}"
            );
        }
        // Spelled `&mut Conn<..>`: taken as it is, even beside other `&mut` parameters.
        let out = expand(
            quote!(),
            quote!(
                fn f(q: &mut Q, c: &mut Conn<M>) -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(out.contains("begin (& mut * c , false)"), "{out}");
        assert!(!out.contains("atomic_conn"), "{out}");
        // Several candidates, none or two named `conn`, `db`, `tx`: an error on each.
        for item in [
            quote!(
                fn f(a: &mut Db, b: &mut Db) -> Result<(), E> {
                    Ok(())
                }
            ),
            quote!(
                fn f(db: &mut Db, tx: &mut Db, q: &mut Q) -> Result<(), E> {
                    Ok(())
                }
            ),
        ] {
            let out = expand(quote!(), item);
            assert_eq!(out.matches("compile_error").count(), 2, "{out}");
            assert!(out.contains("cannot tell which parameter"), "{out}");
        }
        // `&Conn<..>` beside a `&mut` parameter: the near miss is reported, not guessed past.
        let out = expand(
            quote!(),
            quote!(
                fn f(conn: &Conn<M>, q: &mut Q) -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(out.contains("needs `&mut` access"), "{out}");
    }

    #[test]
    fn conn_option_and_async_ownership() {
        let out = expand(
            quote!(conn = self.db, durable),
            quote! {
                async fn f(&mut self, name: String) -> Result<(), Error> {
                    enqueue!(self.log.send(name.clone()));
                    Ok(())
                }
            },
        );
        assert!(out.contains("self . db . __oncommit_conn ()"), "{out}");
        assert!(
            out.contains("begin_async (self . db . __oncommit_conn () , true)"),
            "{out}"
        );
        assert!(
            out.contains("let name = name ;"),
            "by-value parameter moved in: {out}"
        );
        let out = expand(
            quote!(),
            quote! {
                async fn g(conn: &mut Conn<M>, name: String) -> Result<(), Error> {
                    Ok(())
                }
            },
        );
        assert!(out.contains("let conn = & mut * conn ;"), "{out}");
        assert!(out.contains("async move"), "{out}");
    }

    #[test]
    fn shadowing_the_connection_is_an_error() {
        let out = expand(
            quote!(),
            quote! {
                fn f(conn: &mut Conn<M>) -> Result<(), Error> {
                    let conn = other();
                    enqueue!(send(1));
                    Ok(())
                }
            },
        );
        assert!(out.contains("shadows `conn`"), "{out}");
        let without_enqueue = expand(
            quote!(),
            quote!(
                fn f(conn: &mut Conn<M>) -> Result<(), Error> {
                    let conn = 1;
                    Ok(())
                }
            ),
        );
        assert!(
            !without_enqueue.contains("compile_error"),
            "{without_enqueue}"
        );
    }

    #[test]
    fn standalone_needs_conn() {
        let out = expand_enqueue(quote!(send(1))).to_string();
        assert!(out.contains("compile_error"), "{out}");
        let out = expand_enqueue(quote!(conn => send(1))).to_string();
        assert!(out.contains("__private :: v1 :: enqueue (conn"), "{out}");
    }

    #[test]
    fn durable_job_in_atomic() {
        let out = expand(
            quote!(),
            quote! {
                async fn f(conn: &mut Conn<M>, names: Vec<String>) -> Result<(), Error> {
                    for name in names {
                        let id = enqueue!(outbox => Welcome { name: &name });
                        ids.push(id);
                    }
                    enqueue!(outbox => if a { x } else { y });
                    let r = enqueue!(other => outbox => job);
                    Ok(())
                }
            },
        );
        assert!(!out.contains("compile_error"), "{out}");
        // The job once, borrowed; then the call on the fn's connection, with `?`.
        assert!(
            out.contains(
                "let __oncommit_job = & Welcome { name : & name } ; \
                 __oncommit_v1 :: enqueue_job (& mut * conn , __oncommit_job) ?"
            ),
            "{out}"
        );
        assert!(
            out.contains("let __oncommit_job = & (if a { x } else { y }) ;"),
            "{out}"
        );
        // The explicit form: the `Result`, no `?`.
        assert!(
            out.contains("let r = { enqueue ! (@ used) ; let __oncommit_job = & job ; __oncommit_v1 :: enqueue_job (other , __oncommit_job) } ;"),
            "{out}"
        );
        // No hook, no capture.
        assert!(
            !out.contains("sync_hook") && !out.contains("captured"),
            "{out}"
        );
    }

    #[test]
    fn durable_job_on_a_connection_named_outbox() {
        let item = |body: TokenStream| {
            quote! {
                fn f(outbox: &mut Conn<M>) -> Result<(), Error> {
                    #body
                    Ok(())
                }
            }
        };
        let out = expand(quote!(), item(quote!(enqueue!(outbox => send(1));)));
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("ambiguous `outbox =>`"), "{out}");
        assert!(out.contains("enqueue!(outbox => outbox => JOB)"), "{out}");
        let out = expand(quote!(), item(quote!(enqueue!(outbox => outbox => job);)));
        assert!(!out.contains("compile_error"), "{out}");
        assert!(
            out.contains("enqueue_job (outbox , __oncommit_job)"),
            "{out}"
        );
        // A connection with another name: `outbox =>` is the durable form.
        let out = expand(
            quote!(),
            quote! {
                fn f(conn: &mut Conn<M>) -> Result<(), Error> {
                    enqueue!(outbox => job);
                    Ok(())
                }
            },
        );
        assert!(
            out.contains("enqueue_job (& mut * conn , __oncommit_job) ?"),
            "{out}"
        );
    }

    #[test]
    fn durable_job_errors_keep_the_item() {
        let out = expand(
            quote!(durabel),
            quote! {
                fn f(conn: &mut Conn<M>) -> Result<(), Error> {
                    let id = enqueue!(outbox => Welcome { id: 1 });
                    let r = enqueue!(conn => outbox => Welcome { id: 2 });
                    Ok(())
                }
            },
        );
        assert!(out.contains("compile_error"), "{out}");
        // Inert: the job is type-checked, never enqueued; the values keep their types.
        assert!(!out.contains("enqueue_job"), "{out}");
        assert!(
            out.contains("let id = { enqueue ! (@ used) ; let _ = | | { let _ = (& Welcome { id : 1 } ,) ; } ; :: oncommit :: __private :: v1 :: inert_message_id () } ;"),
            "{out}"
        );
        assert!(
            out.contains("Ok (:: oncommit :: __private :: v1 :: inert_message_id ())"),
            "{out}"
        );
    }

    #[test]
    fn standalone_durable_job() {
        let out = expand_enqueue(quote!(&mut conn => outbox => Welcome { id })).to_string();
        assert_eq!(
            out,
            "{ let __oncommit_job = & Welcome { id } ; \
             :: oncommit :: __private :: v1 :: enqueue_job (& mut conn , __oncommit_job) }"
        );
        let out = expand_enqueue(quote!(outbox => Welcome { id })).to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("enqueue!(conn => outbox => JOB)"), "{out}");
        let out = expand_enqueue(quote!(outbox => job, robust)).to_string();
        assert!(
            out.contains("`robust` does not apply to a durable job"),
            "{out}"
        );
    }
}
