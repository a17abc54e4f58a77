//! Bodies that another attribute macro has already wrapped before `#[atomic]` runs.
//!
//! Attribute macros expand from the outside in: one written above `#[atomic]` (or applied
//! to the whole `impl`) runs first and hands `#[atomic]` a fn whose body it rewrote. Two
//! rewrites move the user's body into a `move` closure or an `async move` block, where
//! `#[atomic]` would see a `move` the user never wrote, and would open the transaction
//! outside of what the other macro added:
//!
//! - `#[tracing::instrument]`: the body becomes `{ if false { return <fake>; } { BODY } }`,
//!   inside `async move { .. }` (the future instrumented with the span) for an async fn, or
//!   inside the entered span (or `move || { .. }` with `err`/`ret`) for a sync one;
//! - `#[async_trait]` (on the `impl`): the async fn becomes a sync fn returning
//!   `Pin<Box<dyn Future<Output = R> + Send>>`, its body `Box::pin(async move { ..; let
//!   __ret: R = BODY; __ret })`, with `self` renamed `__self`.
//!
//! [`take`] finds the user's `BODY` in such a fn body and leaves a hole there; the
//! transaction is generated for `BODY` alone and [`Wrapped::fill`] puts it back in the
//! hole. So the span of `#[tracing::instrument]` covers BEGIN, COMMIT and the hooks, its
//! `err`/`ret` events see the transaction's result, and `#[async_trait]`'s future is the
//! transaction.

use proc_macro2::{Delimiter, Span, TokenStream};
use quote::ToTokens;
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, Ident, Stmt, Type};

use crate::tokens::group;

/// The name of the hole left where the user's body was.
const HOLE: &str = "__oncommit_body";

/// A fn body that another attribute macro wrapped around the user's body, the body taken out.
pub(crate) struct Wrapped {
    /// The fn body, with a hole where the user's body was.
    outer: syn::Block,
    /// Whether the user's body runs in an async context (it is inside `async move`).
    pub(crate) is_async: bool,
    /// The type the user's body evaluates to, when the fn's signature no longer says it
    /// (`#[async_trait]`'s `let __ret: R`).
    pub(crate) ret: Option<Type>,
    /// What `self` is called inside the body (`#[async_trait]`'s `__self`).
    pub(crate) self_ident: Option<Ident>,
}

impl Wrapped {
    /// The fn body with `tokens` (the statements of the transaction) in the hole.
    pub(crate) fn fill(mut self, tokens: TokenStream) -> syn::Block {
        let mut filler = Filler {
            tokens: Some(group(Delimiter::Brace, Span::call_site(), tokens)),
        };
        filler.visit_block_mut(&mut self.outer);
        self.outer
    }
}

/// When `block` (a fn body) is the output of `#[tracing::instrument]` or of `#[async_trait]`:
/// the wrapper, `block` left empty, and the user's body. `is_async` is the fn's own
/// asyncness.
pub(crate) fn take(block: &mut syn::Block, is_async: bool) -> Option<(Wrapped, syn::Block)> {
    if let Some(wrapped) = take_async_trait(block, is_async) {
        return Some(wrapped);
    }
    let mut finder = Instrumented {
        body: None,
        in_async: false,
        is_async: false,
    };
    finder.visit_block_mut(block);
    let body = finder.body?;
    let wrapped = Wrapped {
        outer: std::mem::replace(block, empty_block()),
        // An async fn's body is inside the instrumented `async move` block.
        is_async: is_async || finder.is_async,
        ret: None,
        self_ident: None,
    };
    Some((wrapped, body))
}

/// `#[async_trait]`: a sync fn whose body is `Box::pin(async move { ..; let __ret: R = BODY;
/// __ret })`.
fn take_async_trait(block: &mut syn::Block, is_async: bool) -> Option<(Wrapped, syn::Block)> {
    if is_async {
        return None;
    }
    let [Stmt::Expr(Expr::Call(call), None)] = block.stmts.as_mut_slice() else {
        return None;
    };
    let Expr::Path(func) = &*call.func else {
        return None;
    };
    let names: Vec<String> = func
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    if !names.ends_with(&["Box".to_owned(), "pin".to_owned()]) || call.args.len() != 1 {
        return None;
    }
    let Some(Expr::Async(future)) = call.args.first_mut() else {
        return None;
    };
    future.capture?;
    // At the top of the block, or inside the future `#[tracing::instrument]` (above
    // `#[atomic]`) made of it.
    let mut finder = AsyncTraitBody {
        self_ident: None,
        found: None,
    };
    finder.visit_block_mut(&mut future.block);
    let (body, ret) = finder.found?;
    let wrapped = Wrapped {
        outer: std::mem::replace(block, empty_block()),
        is_async: true,
        ret: Some(ret),
        self_ident: finder.self_ident,
    };
    Some((wrapped, body))
}

/// Finds `#[async_trait]`'s `let __ret: R = BODY;` (taking `BODY` out) and its
/// `let __self = self;`.
struct AsyncTraitBody {
    self_ident: Option<Ident>,
    found: Option<(syn::Block, Type)>,
}

impl VisitMut for AsyncTraitBody {
    fn visit_local_mut(&mut self, local: &mut syn::Local) {
        if self.found.is_some() {
            return;
        }
        match &local.pat {
            // `let __self = self;` (`let mut __self = self;` for `&mut self`)
            syn::Pat::Ident(pat) if pat.ident == "__self" => {
                self.self_ident = Some(pat.ident.clone());
            }
            syn::Pat::Type(typed) if is_ident(&typed.pat, "__ret") => {
                if let Some(init) = &mut local.init
                    && init.diverge.is_none()
                    && let Expr::Block(body) = &mut *init.expr
                    && body.attrs.is_empty()
                    && body.label.is_none()
                {
                    let ty = (*typed.ty).clone();
                    let body = std::mem::replace(&mut body.block, empty_block());
                    *init.expr = hole();
                    self.found = Some((body, ty));
                }
                return;
            }
            _ => {}
        }
        visit_mut::visit_local_mut(self, local);
    }

    fn visit_expr_closure_mut(&mut self, _closure: &mut syn::ExprClosure) {}

    fn visit_item_mut(&mut self, _item: &mut syn::Item) {}
}

/// Finds `#[tracing::instrument]`'s `{ if false { let __tracing_attr_fake_return: R = loop
/// {}; return __tracing_attr_fake_return; } BODY.. }` and takes `BODY` out.
struct Instrumented {
    body: Option<syn::Block>,
    /// Inside an `async` block of the wrapper.
    in_async: bool,
    /// Whether the body was found inside an `async` block.
    is_async: bool,
}

impl VisitMut for Instrumented {
    fn visit_block_mut(&mut self, block: &mut syn::Block) {
        if self.body.is_some() {
            return;
        }
        if block.stmts.len() >= 2 && block.stmts.first().is_some_and(is_fake_return) {
            let stmts: Vec<Stmt> = block.stmts.drain(1..).collect();
            block.stmts.push(Stmt::Expr(hole(), None));
            self.body = Some(unwrap_block(stmts));
            self.is_async = self.in_async;
            return;
        }
        visit_mut::visit_block_mut(self, block);
    }

    fn visit_expr_async_mut(&mut self, block: &mut syn::ExprAsync) {
        let outer = self.in_async;
        self.in_async = true;
        visit_mut::visit_expr_async_mut(self, block);
        self.in_async = outer;
    }

    fn visit_expr_closure_mut(&mut self, closure: &mut syn::ExprClosure) {
        // `move || { .. }` with `err`/`ret`: a sync context again.
        let outer = self.in_async;
        self.in_async = closure.asyncness.is_some();
        visit_mut::visit_expr_closure_mut(self, closure);
        self.in_async = outer;
    }

    fn visit_item_mut(&mut self, _item: &mut syn::Item) {}
}

/// `if false { let __tracing_attr_fake_return: R = loop {}; return __tracing_attr_fake_return; }`
fn is_fake_return(stmt: &Stmt) -> bool {
    let Stmt::Expr(Expr::If(branch), _) = stmt else {
        return false;
    };
    let is_false = matches!(
        &*branch.cond,
        Expr::Lit(syn::ExprLit { lit: syn::Lit::Bool(value), .. }) if !value.value
    );
    is_false
        && branch.then_branch.stmts.iter().any(|stmt| {
            matches!(stmt, Stmt::Local(local)
                if matches!(&local.pat, syn::Pat::Type(typed)
                    if is_ident(&typed.pat, "__tracing_attr_fake_return")))
        })
}

fn is_ident(pat: &syn::Pat, name: &str) -> bool {
    matches!(pat, syn::Pat::Ident(pat) if pat.ident == name)
}

/// The statements as one block: the block itself when they are one block expression
/// (without attributes or label) and nothing else, as `{ #block }` wraps the user's.
fn unwrap_block(stmts: Vec<Stmt>) -> syn::Block {
    let mut block = syn::Block {
        brace_token: syn::token::Brace::default(),
        stmts,
    };
    while let [Stmt::Expr(Expr::Block(inner), None)] = block.stmts.as_slice()
        && inner.attrs.is_empty()
        && inner.label.is_none()
    {
        match block.stmts.pop() {
            Some(Stmt::Expr(Expr::Block(inner), None)) => block = inner.block,
            _ => break,
        }
    }
    block
}

fn empty_block() -> syn::Block {
    syn::Block {
        brace_token: syn::token::Brace::default(),
        stmts: Vec::new(),
    }
}

/// `self` in `expr` (`#[atomic(conn = self.db)]`) renamed as `#[async_trait]` renamed it in
/// the body, keeping each token's span.
pub(crate) fn rename_self(expr: &mut Expr, self_ident: &Ident) {
    struct Rename<'a>(&'a Ident);
    impl VisitMut for Rename<'_> {
        fn visit_expr_path_mut(&mut self, path: &mut syn::ExprPath) {
            if path.qself.is_none()
                && let Some(span) = path
                    .path
                    .get_ident()
                    .filter(|i| *i == "self")
                    .map(Ident::span)
            {
                let mut ident = self.0.clone();
                ident.set_span(ident.span().located_at(span));
                path.path = ident.into();
            }
        }
    }
    Rename(self_ident).visit_expr_mut(expr);
}

/// The hole: an identifier no user code can name (mixed-site hygiene).
fn hole() -> Expr {
    Expr::Verbatim(Ident::new(HOLE, Span::mixed_site()).into_token_stream())
}

/// Puts the transaction in the hole.
struct Filler {
    tokens: Option<TokenStream>,
}

impl VisitMut for Filler {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        if let Expr::Verbatim(tokens) = expr
            && is_hole(tokens)
            && let Some(filling) = self.tokens.take()
        {
            *tokens = filling;
            return;
        }
        visit_mut::visit_expr_mut(self, expr);
    }

    fn visit_item_mut(&mut self, _item: &mut syn::Item) {}
}

fn is_hole(tokens: &TokenStream) -> bool {
    let mut iter = tokens.clone().into_iter();
    matches!(
        (iter.next(), iter.next()),
        (Some(proc_macro2::TokenTree::Ident(ident)), None) if ident == HOLE
    )
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use crate::expand::expand_atomic;

    /// What `#[tracing::instrument(err)]` (0.1.31) makes of an async fn, abridged.
    fn instrumented_async(body: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
        quote! {
            async fn f(conn: &mut Conn<M>, ids: Vec<u64>) -> Result<(), Error> {
                let __tracing_attr_span = ::tracing::span!(::tracing::Level::INFO, "f");
                let __tracing_instrument_future = async move {
                    match async move {
                        #[allow(unreachable_code)]
                        if false {
                            let __tracing_attr_fake_return: Result<(), Error> = loop {};
                            return __tracing_attr_fake_return;
                        }
                        { #body }
                    }
                    .await
                    {
                        Ok(x) => Ok(x),
                        Err(e) => Err(e),
                    }
                };
                ::tracing::Instrument::instrument(__tracing_instrument_future, __tracing_attr_span)
                    .await
            }
        }
    }

    #[test]
    fn the_transaction_goes_inside_the_instrumented_future() {
        let out = expand_atomic(
            quote!(),
            instrumented_async(quote! {
                for id in ids {
                    enqueue!(send(id));
                }
                Ok(())
            }),
        )
        .to_string();
        assert!(!out.contains("compile_error"), "{out}");
        // The span and the future come first, the transaction inside the inner block, after
        // the fake return.
        let span = out.find("let __tracing_attr_span").unwrap_or(usize::MAX);
        let fake = out
            .find("return __tracing_attr_fake_return")
            .unwrap_or(usize::MAX);
        let begin = out.find("begin_async (& mut * conn").unwrap_or(usize::MAX);
        let finish = out.find("finish_atomic_async").unwrap_or(usize::MAX);
        let instrument = out.find(":: tracing :: Instrument").unwrap_or(usize::MAX);
        assert!(
            span < fake && fake < begin && begin < finish && finish < instrument,
            "{out}"
        );
        assert!(
            !out.contains("__oncommit_body"),
            "the hole is filled: {out}"
        );
    }

    #[test]
    fn errors_in_a_wrapped_body_are_the_users() {
        let out = expand_atomic(
            quote!(),
            instrumented_async(quote! {
                for id in ids {
                    enqueue!(send(&id));
                }
                Ok(())
            }),
        )
        .to_string();
        assert!(out.contains("borrow of loop variable `id`"), "{out}");
        assert!(!out.contains("`move` closure"), "{out}");
    }

    #[test]
    fn async_trait_body_and_self() {
        let out = expand_atomic(
            quote!(conn = self.db),
            quote! {
                fn save<'life0, 'async_trait>(&'life0 mut self, name: String)
                    -> ::core::pin::Pin<Box<dyn ::core::future::Future<Output = Result<(), Error>>
                        + ::core::marker::Send + 'async_trait>>
                {
                    Box::pin(async move {
                        if let ::core::option::Option::Some(__ret) =
                            ::core::option::Option::None::<Result<(), Error>>
                        {
                            #[allow(unreachable_code)]
                            return __ret;
                        }
                        let mut __self = self;
                        let name = name;
                        let __ret: Result<(), Error> = {
                            enqueue!(__self.log.send(name));
                            Ok(())
                        };
                        #[allow(unreachable_code)]
                        __ret
                    })
                }
            },
        )
        .to_string();
        assert!(!out.contains("compile_error"), "{out}");
        assert!(
            out.contains("begin_async (__self . db . __oncommit_conn () , false) . await"),
            "async, on `__self`: {out}"
        );
        assert!(
            out.contains("let __ret : Result < () , Error > = {"),
            "{out}"
        );
        assert!(
            out.contains("body_async :: < Result < () , Error > , _ >"),
            "the future's output type: {out}"
        );
    }

    #[test]
    fn plain_bodies_are_not_wrapped() {
        let out = expand_atomic(
            quote!(),
            quote! {
                fn f(conn: &mut Conn<M>) -> Result<(), Error> {
                    if false { return Ok(()); }
                    Box::pin(async move { 1 });
                    Ok(())
                }
            },
        )
        .to_string();
        assert!(out.starts_with("fn f"), "{out}");
        assert!(out.contains("begin (& mut * conn , false)"), "{out}");
    }
}
