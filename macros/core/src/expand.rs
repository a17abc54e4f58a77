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
//! deferred on the connection.
//!
//! Only `proc_macro2` is used, never `proc_macro`, so a bench can include this file (with
//! `attr.rs`, `body.rs`, `enqueue.rs` and `lint/`) by `#[path]`.

use proc_macro2::{Delimiter, Span, TokenStream};
use quote::{ToTokens, TokenStreamExt, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{Expr, FnArg, Ident, ItemFn, Macro, Pat, ReturnType, Signature, Type};

use crate::attr::{self, AtomicArgs};
use crate::body::{self, Rewrite};
use crate::enqueue::{self, CallKind, EnqueueInput};

/// `#[atomic(args)] item`: the expanded fn, or the original item with its `enqueue!`s made
/// inert plus every error found (so an IDE keeps resolving the item).
pub fn expand_atomic(args: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                "#[atomic] goes on a fn with a body (a free fn or a method) that returns \
                 `Result<T, E>` and takes a `&mut Conn<..>` parameter",
            );
            return with_errors(item, error);
        }
    };
    let mut errors = Errors::default();
    let args = errors.take(attr::parse(args));
    let ret = errors.take(return_type(&func.sig));
    let conn = match &args {
        Some(args) => errors.take(conn_place(&func.sig, args)),
        None => None,
    };
    let transaction = match &args {
        Some(args) => errors.take(Transaction::from_args(args)),
        None => None,
    };

    // The loop-borrow check (the `lint` module) runs on the body as written; the
    // `enqueue!` inputs it parses are handed to the rewrite.
    let (lint_errors, parsed) = crate::lint::loop_borrows_and_parsed(&func.block);
    errors.extend(lint_errors);

    // The body is rewritten in place (no copy): the error path below parses the item again
    // for the original body.
    let mut func = func;
    let brace_token = func.block.brace_token;
    let mut block = std::mem::replace(
        &mut *func.block,
        syn::Block {
            brace_token,
            stmts: Vec::new(),
        },
    );
    let mut rewriter = Atomic {
        conn: if errors.is_empty() { conn } else { None },
        is_async: func.sig.asyncness.is_some(),
        fn_name: func.sig.ident.clone(),
        plain: 0,
    };
    errors.extend(body::rewrite_block_parsed(
        &mut block,
        &mut rewriter,
        parsed,
    ));
    if rewriter.plain > 0
        && let Some(name) = args.as_ref().and_then(|args| conn_name(&func.sig, args))
    {
        // The replacements are opaque tokens to the visitor, as the `enqueue!`s were: the
        // rewritten body has the same bindings as the original.
        errors.extend(shadows(&block, &name));
    }

    let (Some(args), Some(ret), Some(conn), Some(transaction), None) =
        (args, ret, rewriter.conn, transaction, errors.combined())
    else {
        return match syn::parse2::<ItemFn>(item.clone()) {
            Ok(func) => fallback(func, errors),
            Err(_) => match errors.combined() {
                Some(error) => with_errors(item, error),
                None => item,
            },
        };
    };
    generate(func, block, &args, &transaction, &ret, &conn)
}

/// How the outermost transaction is opened and retried (`isolation`, `read_only`, `retry`).
struct Transaction {
    /// `TxOptions` built at run time, when an option is given.
    options: Option<TokenStream>,
    /// How many more attempts after a transient failure.
    retries: Option<u32>,
}

impl Transaction {
    fn from_args(args: &AtomicArgs) -> syn::Result<Self> {
        let mut errors = Errors::default();
        let isolation = errors.take(args.isolation_variant());
        let retries = errors.take(args.retries());
        if let Some(error) = errors.combined() {
            return Err(error);
        }
        let options = args.has_transaction_options().then(|| {
            let v1 = Private::Alias.at(Span::call_site());
            let mut options = quote!(#v1::TxOptions::new());
            if let Some(Some(level)) = isolation {
                options.extend(quote!(.isolation(#v1::Isolation::#level)));
            }
            if args.read_only.is_present() {
                options.extend(quote!(.read_only()));
            }
            options
        });
        Ok(Transaction {
            options,
            retries: retries.flatten(),
        })
    }
}

/// The standalone `enqueue!`: `enqueue!(conn => CALL)` anywhere; `enqueue!(CALL)` is an error
/// outside `#[atomic]` (inside one, the attribute has already replaced it).
pub fn expand_enqueue(tokens: TokenStream) -> TokenStream {
    if is_used_marker(&tokens) {
        return TokenStream::new();
    }
    let input = match enqueue::parse(tokens) {
        Ok(input) => input,
        Err(error) => return error.into_compile_error(),
    };
    let Some(conn) = input.conn.clone() else {
        return syn::Error::new(
            input.span,
            "`enqueue!(CALL)` must be inside an #[atomic] fn, which knows the connection; \
             put it in an #[atomic] fn, or name the connection: `enqueue!(conn => CALL)`",
        )
        .into_compile_error();
    };
    block(
        Span::call_site(),
        capture(
            &input,
            Span::call_site(),
            &Target::Explicit(&conn),
            Private::Full,
            None,
        ),
    )
}

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

/// Collects errors, to report them all at once.
#[derive(Default)]
struct Errors(Vec<syn::Error>);

impl Errors {
    fn take<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.0.push(error);
                None
            }
        }
    }

    fn extend(&mut self, errors: impl IntoIterator<Item = syn::Error>) {
        self.0.extend(errors);
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn combined(&self) -> Option<syn::Error> {
        let mut iter = self.0.iter().cloned();
        let mut first = iter.next()?;
        for error in iter {
            first.combine(error);
        }
        Some(first)
    }
}

fn with_errors(item: TokenStream, error: syn::Error) -> TokenStream {
    let mut out = item;
    out.extend(error.into_compile_error());
    out
}

/// The original fn, its `enqueue!`s replaced by inert expressions that still name the
/// captured values (no cascade of "unused" or "outside #[atomic]" errors), plus the errors.
fn fallback(mut func: ItemFn, errors: Errors) -> TokenStream {
    let _ = body::rewrite_block(&mut func.block, &mut Inert);
    // The fn does not compile anyway: no "unused variable" noise on top of the errors.
    func.attrs
        .push(syn::parse_quote!(#[allow(unused_variables)]));
    let errors = errors.combined().map(syn::Error::into_compile_error);
    quote!(#func #errors)
}

/// `enqueue!` replaced without running anything: used when the item has errors.
struct Inert;

impl Rewrite for Inert {
    fn rewrite(&mut self, mac: &Macro, input: EnqueueInput) -> syn::Result<Expr> {
        Ok(inert(mac, Some(&input)))
    }

    fn inert(&mut self, mac: &Macro) -> Expr {
        inert(mac, None)
    }
}

fn inert(mac: &Macro, input: Option<&EnqueueInput>) -> Expr {
    let values = input.map(|input| input.call.captured()).unwrap_or_default();
    let explicit = input.is_some_and(|input| input.conn.is_some());
    let mut tokens = used_marker(&mac.path);
    // A closure that is never called: the values are type-checked and count as used, but
    // nothing is evaluated, moved or borrowed beyond the closure. (`| |`, not `||`: the
    // tokens as syn prints a closure without parameters.)
    if !values.is_empty() {
        tokens.extend(quote!(let _ = | | { let _ = (#(&#values,)*); };));
    }
    if explicit {
        tokens.extend(quote!(::core::result::Result::<(), ::oncommit::Error>::Ok(
            ()
        )));
    }
    block_expr(Span::call_site(), tokens)
}

/// `{ tokens }` with its braces at `span`.
fn block(span: Span, tokens: TokenStream) -> TokenStream {
    group(Delimiter::Brace, span, tokens)
}

/// `{ tokens }` with its braces at `span`, as a block expression: the generated statements
/// are kept as tokens (never parsed back into a syntax tree; they are only printed again),
/// inside a real `Expr::Block` so that the surrounding code prints as it would around any
/// block.
fn block_expr(span: Span, tokens: TokenStream) -> Expr {
    Expr::Block(syn::ExprBlock {
        attrs: Vec::new(),
        label: None,
        block: syn::Block {
            brace_token: syn::token::Brace(span),
            stmts: if tokens.is_empty() {
                Vec::new()
            } else {
                vec![syn::Stmt::Expr(Expr::Verbatim(tokens), None)]
            },
        },
    })
}

/// `path!(@used);`: what `#[atomic]` leaves of an `enqueue!` it replaced (the user's own
/// `enqueue` path), so the import of `enqueue` counts as used.
fn used_marker(path: &syn::Path) -> TokenStream {
    quote!(#path!(@used);)
}

/// The return type, checked to look like a `Result` (or an alias of one).
fn return_type(sig: &Signature) -> syn::Result<Type> {
    const NEEDS: &str = "an #[atomic] fn must return `Result<T, E>` with \
                         `E: From<oncommit::Error>` (COMMIT, ROLLBACK and hooks can fail)";
    let ReturnType::Type(_, ty) = &sig.output else {
        return Err(syn::Error::new(
            sig.paren_token.span.close(),
            format!("{NEEDS}; add a return type, e.g. `-> Result<(), oncommit::Error>`"),
        ));
    };
    // `Result`, `io::Result`, `anyhow::Result`, or an alias of the user's (`AppResult<T>`,
    // `Fallible<T>`): any path except the std types that are plainly not a `Result` (an alias
    // that is not one fails on the generated `finish`).
    const NOT_RESULT: &[&str] = &[
        "Option",
        "Vec",
        "String",
        "str",
        "bool",
        "char",
        "u8",
        "u16",
        "u32",
        "u64",
        "u128",
        "usize",
        "i8",
        "i16",
        "i32",
        "i64",
        "i128",
        "isize",
        "f32",
        "f64",
        "Box",
        "Arc",
        "Rc",
        "Cow",
        "HashMap",
        "BTreeMap",
        "HashSet",
        "BTreeSet",
        "VecDeque",
        "Poll",
        "ControlFlow",
        "Pin",
        "Self",
    ];
    let is_result = match &**ty {
        Type::Path(path) => {
            path.qself.is_none()
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| !NOT_RESULT.iter().any(|name| s.ident == name))
        }
        _ => false,
    };
    if is_result {
        Ok((**ty).clone())
    } else {
        Err(syn::Error::new_spanned(
            ty,
            format!(
                "{NEEDS}, found `{}`",
                enqueue::source_text(ty.to_token_stream())
            ),
        ))
    }
}

/// A type as rustfmt prints it (`Option<u64>`, `&str`), for messages.
fn type_text(ty: &Type) -> String {
    let text = ty.to_token_stream().to_string();
    let mut out = text
        .replace(" < ", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
        .replace(" :: ", "::")
        .replace(":: ", "::")
        .replace("& ", "&");
    if out.starts_with(":: ") {
        out = out.replacen(":: ", "::", 1);
    }
    out
}

/// `&mut *conn` for the single `&mut Conn<..>` parameter, or `&mut EXPR` for `conn = EXPR`.
fn conn_place(sig: &Signature, args: &AtomicArgs) -> syn::Result<TokenStream> {
    if let Some(expr) = &args.conn {
        // A method call, so autoderef reaches the `Conn` in `self.db` and in `db: &mut Conn`.
        let span = expr.span();
        let method = quote_spanned!(span=> __oncommit_conn);
        return Ok(match expr {
            Expr::Path(_) | Expr::Field(_) | Expr::Index(_) => quote!(#expr.#method()),
            _ => quote!((#expr).#method()),
        });
    }
    let candidates: Vec<&syn::PatType> = sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Typed(typed) if is_mut_conn(&typed.ty) => Some(typed),
            _ => None,
        })
        .collect();
    match candidates.as_slice() {
        [] => {
            const NEEDS: &str = "#[atomic] needs the connection: a parameter of type \
                                 `&mut Conn<..>`, or `#[atomic(conn = EXPR)]` naming where it \
                                 is (e.g. `#[atomic(conn = self.db)]`)";
            // `conn: &Conn<..>` or `conn: Conn<..>`: point at it.
            let near_miss = sig.inputs.iter().find_map(|arg| match arg {
                FnArg::Typed(typed) if mentions_conn(&typed.ty) => Some(typed),
                _ => None,
            });
            Err(match near_miss {
                Some(typed) => syn::Error::new_spanned(
                    &typed.ty,
                    format!(
                        "{NEEDS}; found `{}`: the transaction needs `&mut` access",
                        type_text(&typed.ty)
                    ),
                ),
                None => syn::Error::new(sig.paren_token.span.join(), NEEDS),
            })
        }
        [one] => match &*one.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
                let ident = &pat.ident;
                Ok(quote!(&mut *#ident))
            }
            other => Err(syn::Error::new_spanned(
                other,
                "#[atomic] needs the `&mut Conn<..>` parameter bound to a name, e.g. \
                 `conn: &mut Conn<C>`",
            )),
        },
        [first, rest @ ..] => {
            let names: Vec<String> = candidates
                .iter()
                .map(|c| enqueue::source_text(c.pat.to_token_stream()))
                .collect();
            let message = format!(
                "#[atomic] found several `&mut Conn<..>` parameters ({}): say which one holds \
                 the transaction with `#[atomic(conn = {})]`",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                names[0],
            );
            let mut error = syn::Error::new_spanned(first, &message);
            for other in rest {
                error.combine(syn::Error::new_spanned(other, &message));
            }
            Err(error)
        }
    }
}

/// The local name the connection place starts from, when it is one that the body could
/// shadow: the `&mut Conn<..>` parameter, or `conn = name`.
fn conn_name(sig: &Signature, args: &AtomicArgs) -> Option<Ident> {
    if let Some(expr) = &args.conn {
        return match expr {
            Expr::Path(path) => path.path.get_ident().cloned(),
            _ => None,
        };
    }
    let mut params = sig.inputs.iter().filter_map(|arg| match arg {
        FnArg::Typed(typed) if is_mut_conn(&typed.ty) => match &*typed.pat {
            Pat::Ident(pat) => Some(pat.ident.clone()),
            _ => None,
        },
        _ => None,
    });
    let first = params.next();
    if params.next().is_some() { None } else { first }
}

/// Bindings in `block` that shadow the connection's name: `enqueue!` there would defer on
/// whatever the new binding is. One error per binding.
fn shadows(block: &syn::Block, name: &Ident) -> Vec<syn::Error> {
    struct Finder<'a> {
        name: &'a Ident,
        found: Vec<syn::Error>,
    }
    impl<'ast> syn::visit::Visit<'ast> for Finder<'_> {
        fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
            if pat.ident == *self.name {
                self.found.push(syn::Error::new(
                    pat.ident.span(),
                    format!(
                        "this binding shadows `{name}`, the connection of the #[atomic] fn, \
                         which `enqueue!` uses to defer its hooks; give it another name",
                        name = self.name
                    ),
                ));
            }
            syn::visit::visit_pat_ident(self, pat);
        }

        fn visit_item(&mut self, _item: &'ast syn::Item) {}
    }
    let mut finder = Finder {
        name,
        found: Vec::new(),
    };
    syn::visit::Visit::visit_block(&mut finder, block);
    finder.found
}

/// `&mut Conn<..>` or `&mut path::to::Conn<..>`.
fn is_mut_conn(ty: &Type) -> bool {
    let Type::Reference(reference) = ty else {
        return false;
    };
    if reference.mutability.is_none() {
        return false;
    }
    let mut elem = &*reference.elem;
    while let Type::Paren(paren) = elem {
        elem = &paren.elem;
    }
    let Type::Path(path) = elem else {
        return false;
    };
    path.qself.is_none()
        && path.path.segments.last().is_some_and(|s| {
            s.ident == "Conn" && matches!(s.arguments, syn::PathArguments::AngleBracketed(_))
        })
}

/// `Conn<..>`, `&Conn<..>`: a parameter that looks like the connection but is not `&mut`.
fn mentions_conn(ty: &Type) -> bool {
    let ty = match ty {
        Type::Reference(reference) => &*reference.elem,
        other => other,
    };
    matches!(ty, Type::Path(path) if path.path.segments.last().is_some_and(|s| s.ident == "Conn"))
}

/// The variable a place expression starts from: `db` in `db`, `db.inner`, `(*db).0`.
fn root_ident(expr: &Expr) -> Option<Ident> {
    match expr {
        Expr::Path(path) => path.path.segments.first().map(|s| s.ident.clone()),
        Expr::Field(field) => root_ident(&field.base),
        Expr::Index(index) => root_ident(&index.expr),
        Expr::Paren(paren) => root_ident(&paren.expr),
        Expr::Group(group) => root_ident(&group.expr),
        Expr::Unary(unary) => root_ident(&unary.expr),
        Expr::MethodCall(call) => root_ident(&call.receiver),
        _ => None,
    }
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

fn generate(
    func: ItemFn,
    block: syn::Block,
    args: &AtomicArgs,
    transaction: &Transaction,
    ret: &Type,
    conn: &TokenStream,
) -> TokenStream {
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
            args,
            transaction,
            &ret_infer,
            block,
            conn,
            &check,
        ));
    } else if sig.asyncness.is_some() {
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
    out.extend(group(Delimiter::Brace, Span::call_site(), fn_body));
    out
}

/// The fn body of an `#[atomic]` fn with transaction options or `retry`: BEGIN with the
/// options, the body, COMMIT, and with `retry` a loop that runs them again after a transient
/// failure of the outermost transaction. The body is borrowed, not moved, by each attempt
/// (`async { .. }`, not `async move`), so a parameter is moved only by a body that moves it
/// (which rustc then reports as a move in an earlier iteration: such a body cannot be run
/// twice).
fn retry_loop(
    sig: &Signature,
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
    let is_async = sig.asyncness.is_some();
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

/// The `enqueue!` rewriter of one `#[atomic]` fn.
struct Atomic {
    /// The connection place (`&mut *conn`), or `None` when the item has errors (then every
    /// `enqueue!` is only checked and made inert).
    conn: Option<TokenStream>,
    is_async: bool,
    fn_name: Ident,
    /// How many plain `enqueue!(CALL)` were rewritten (they name the connection).
    plain: usize,
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

/// How the generated code names `::oncommit::__private::v1`, the module the macros expand
/// into: in full (the standalone `enqueue!`), or by the alias that an `#[atomic]` fn body
/// imports once, first ([`Private::import`]): five tokens fewer per path, for this crate to
/// build and for rustc to parse.
#[derive(Clone, Copy)]
enum Private {
    Full,
    Alias,
}

/// The name an `#[atomic]` fn body gives `::oncommit::__private::v1`.
const PRIVATE_ALIAS: &str = "__oncommit_v1";

impl Private {
    /// `use ::oncommit::__private::v1 as __oncommit_v1;`: the first statement of an
    /// `#[atomic]` fn body. An item, so it is visible in the body's nested blocks, closures
    /// and async blocks, and in nested fns (whose own `#[atomic]` imports it again).
    fn import() -> TokenStream {
        let alias = Ident::new(PRIVATE_ALIAS, Span::call_site());
        quote!(use ::oncommit::__private::v1 as #alias;)
    }

    /// The module's path, its tokens at `span`.
    fn at(self, span: Span) -> PrivatePath {
        PrivatePath {
            private: self,
            span,
        }
    }
}

/// [`Private::at`]: written straight into the tokens it is interpolated in.
#[derive(Clone, Copy)]
struct PrivatePath {
    private: Private,
    span: Span,
}

impl ToTokens for PrivatePath {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self.private {
            Private::Full => tokens.extend(quote_spanned!(self.span=> ::oncommit::__private::v1)),
            Private::Alias => tokens.append(Ident::new(PRIVATE_ALIAS, self.span)),
        }
    }
}

/// Where the hook goes.
enum Target<'a> {
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
/// parameters), built directly: nothing is parsed back into a syntax tree. Each piece is
/// built once and moved into place (interpolating a `TokenStream` with `#` would copy it
/// token by token).
fn capture(
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
            let span = enqueue::span_of(receiver);
            if enqueue::is_place(receiver) {
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
        let span = enqueue::span_of(arg);
        let v1 = private.at(span);
        out.extend(quote_spanned!(span=> let #ident = #v1::captured(#arg);));
    }

    // The hook: `MAKE_HOOK(SITE, ROBUST, CLOSURE)`, all at the call's span.
    let mut closure = quote_spanned!(call_span=> move | |);
    match (call.awaited, call.tried) {
        (false, false) => closure.extend(deferred),
        (false, true) => {
            closure.extend(quote_spanned! {call_span=>
                -> ::core::result::Result<_, ::oncommit::BoxError>
            });
            let mut ok = quote_spanned!(call_span=> ::core::result::Result::Ok);
            deferred.extend(quote_spanned!(call_span=> ?));
            ok.extend(group(Delimiter::Parenthesis, call_span, deferred));
            closure.extend(group(Delimiter::Brace, call_span, ok));
        }
        (true, false) => {
            closure.extend(quote_spanned!(call_span=> async move));
            deferred.extend(quote_spanned!(call_span=> .await));
            closure.extend(group(Delimiter::Brace, call_span, deferred));
        }
        (true, true) => {
            closure.extend(quote_spanned!(call_span=> async move));
            let mut ok = quote_spanned! {call_span=>
                ::core::result::Result::<_, ::oncommit::BoxError>::Ok
            };
            deferred.extend(quote_spanned!(call_span=> .await?));
            ok.extend(group(Delimiter::Parenthesis, call_span, deferred));
            closure.extend(group(Delimiter::Brace, call_span, ok));
        }
    }
    let mut text = proc_macro2::Literal::string(&input.text);
    text.set_span(site_span);
    let site_v1 = private.at(site_span);
    let mut hook_args = quote_spanned! {site_span=>
        const {
            &#site_v1::StaticSite {
                call: #text,
                location: #site_v1::Location::caller(),
            }
        }
    };
    let robust = input.robust;
    hook_args.extend(quote_spanned!(call_span=> , #robust ,));
    hook_args.extend(closure);
    let mut hook = if call.awaited {
        quote_spanned!(call_span=> #call_v1::async_hook)
    } else {
        quote_spanned!(call_span=> #call_v1::sync_hook)
    };
    hook.extend(group(Delimiter::Parenthesis, call_span, hook_args));

    // Registration: `defer(PLACE, HOOK);` or `enqueue(CONN, HOOK)` (`.await`ed when async).
    let mut register_args = match target {
        Target::Defer(place) => (*place).clone(),
        Target::Explicit(conn) => conn.to_token_stream(),
    };
    register_args.extend(quote!(,));
    register_args.extend(hook);
    let register_args = group(Delimiter::Parenthesis, Span::call_site(), register_args);
    let v1 = private.at(Span::call_site());
    match target {
        Target::Defer(_) => {
            out.extend(quote!(#v1::defer));
            out.extend(register_args);
            out.extend(quote!(;));
        }
        Target::Explicit(_) if call.awaited => {
            out.extend(quote!(#v1::enqueue_async));
            out.extend(register_args);
            out.extend(quote!(.await));
        }
        Target::Explicit(_) => {
            out.extend(quote!(#v1::enqueue));
            out.extend(register_args);
        }
    }
    out
}

/// `tokens` in one group with its delimiters at `span`, as a token stream.
fn group(delimiter: Delimiter, span: Span, tokens: TokenStream) -> TokenStream {
    let mut group = proc_macro2::Group::new(delimiter, tokens);
    group.set_span(span);
    TokenStream::from(proc_macro2::TokenTree::Group(group))
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
}
