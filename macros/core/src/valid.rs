//! Validation: checks the annotated fn and its options, runs the loop-borrow check, rewrites
//! each `enqueue!`, and returns the typed model the code is generated from, or the fallback
//! output with every error found.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, FnArg, Ident, ItemFn, Pat, ReturnType, Signature, Type};

use crate::attr::{self, AtomicArgs};
use crate::body;
use crate::fallback::{Errors, fallback, with_errors};
use crate::model::{AtomicFn, Transaction};
use crate::rewrite::Atomic;

/// Checks `#[atomic(args)] item` and builds its model, rewriting each `enqueue!` of the body
/// on the way; on any error, the fallback output (the original item, its `enqueue!`s made
/// inert, and every error found). Without `loop_check`, the loop-borrow check's errors are
/// dropped (only `expand_atomic_unchecked` does that; the rest is validated as always).
pub(crate) fn validate(
    args: TokenStream,
    item: TokenStream,
    loop_check: bool,
) -> Result<AtomicFn, TokenStream> {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                "#[atomic] goes on a fn with a body (a free fn or a method) that returns \
                 `Result<T, E>` and takes a `&mut Conn<..>` parameter",
            );
            return Err(with_errors(item, error));
        }
    };
    let mut errors = Errors::default();
    // `#[atomic] #[atomic]`: the inner one would nest a second transaction level and
    // rewrite `enqueue!`s the outer one already replaced.
    for attr in &func.attrs {
        if crate::fallback::is_atomic(attr) {
            errors.extend([syn::Error::new_spanned(
                attr,
                "#[atomic] is applied twice to this fn; remove one (options go in one \
                 attribute: `#[atomic(conn = .., retry = ..)]`)",
            )]);
        }
    }
    // A body that another attribute macro above `#[atomic]` (`#[tracing::instrument]`) or
    // around it (`#[async_trait]` on the impl) already wrapped: the user's body is taken
    // out of it, and the transaction is generated for that body and put back in its place.
    // Otherwise the body is taken out of the fn (no copy): the error path below parses the
    // item again for the original body.
    let mut func = func;
    let fn_is_async = func.sig.asyncness.is_some();
    let (wrapper, mut block) = match crate::wrapped::take(&mut func.block, fn_is_async) {
        Some((wrapper, body)) => (Some(wrapper), body),
        None => {
            let brace_token = func.block.brace_token;
            let body = std::mem::replace(
                &mut *func.block,
                syn::Block {
                    brace_token,
                    stmts: Vec::new(),
                },
            );
            (None, body)
        }
    };
    let is_async = wrapper.as_ref().map_or(fn_is_async, |w| w.is_async);
    let mut args = errors.take(attr::parse(args));
    if let (Some(args), Some(self_ident)) = (
        &mut args,
        wrapper.as_ref().and_then(|w| w.self_ident.as_ref()),
    ) && let Some(expr) = &mut args.conn
    {
        // `#[async_trait]` renamed `self` in the body: `conn = self.db` follows.
        crate::wrapped::rename_self(expr, self_ident);
    }
    let ret = match wrapper.as_ref().and_then(|w| w.ret.clone()) {
        Some(ret) => Some(ret),
        None => errors.take(return_type(&func.sig)),
    };
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
    let static_params = crate::lint::static_params(&func.sig);
    let (lint_errors, parsed) = crate::lint::loop_borrows_and_parsed(&block, &static_params);
    if loop_check {
        errors.extend(lint_errors);
    }

    let mut rewriter = Atomic {
        conn: if errors.is_empty() { conn } else { None },
        is_async,
        fn_name: func.sig.ident.clone(),
        conn_name: args.as_ref().and_then(|args| conn_name(&func.sig, args)),
        plain: 0,
    };
    errors.extend(body::rewrite_block_parsed(
        &mut block,
        &mut rewriter,
        parsed,
    ));
    if rewriter.plain > 0
        && let Some(name) = &rewriter.conn_name
    {
        // The replacements are opaque tokens to the visitor, as the `enqueue!`s were: the
        // rewritten body has the same bindings as the original.
        errors.extend(shadows(&block, name));
    }

    let (Some(args), Some(ret), Some(conn), Some(transaction), None) =
        (args, ret, rewriter.conn, transaction, errors.combined())
    else {
        return Err(match syn::parse2::<ItemFn>(item.clone()) {
            Ok(func) => fallback(func, errors),
            Err(_) => match errors.combined() {
                Some(error) => with_errors(item, error),
                None => item,
            },
        });
    };
    Ok(AtomicFn {
        func,
        block,
        args,
        transaction,
        ret,
        conn,
        is_async,
        wrapper,
    })
}

/// The return type (its being a `Result` is checked by the generated code, at its span).
pub(crate) fn return_type(sig: &Signature) -> syn::Result<Type> {
    const NEEDS: &str = "an #[atomic] fn must return `Result<T, E>` with \
                         `E: From<oncommit::Error>` (COMMIT, ROLLBACK and hooks can fail)";
    let ReturnType::Type(_, ty) = &sig.output else {
        return Err(syn::Error::new(
            sig.paren_token.span.close(),
            format!("{NEEDS}; add a return type, e.g. `-> Result<(), oncommit::Error>`"),
        ));
    };
    // Whether it is a `Result` (spelled any way: `io::Result<T>`, an alias of the user's) is
    // checked once, by the generated code, through the runtime's `AtomicReturn` trait: its
    // message is an error at the return type.
    Ok((**ty).clone())
}

/// A type as rustfmt prints it (`Option<u64>`, `&str`), for messages.
pub(crate) fn type_text(ty: &Type) -> String {
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

/// Where the `Conn` of an `#[atomic]` fn is: `&mut EXPR` for `conn = EXPR` (as
/// `EXPR.__oncommit_conn()`), else its connection parameter ([`conn_param`]): `&mut *conn`
/// when it is spelled `&mut Conn<..>`, and `atomic_conn(&mut *conn)` when it was chosen as
/// the `&mut` parameter (a type alias, a renamed import): there the runtime's `AtomicConn`
/// trait confirms that its type is a `Conn`, with an error at the parameter's type if not.
pub(crate) fn conn_place(sig: &Signature, args: &AtomicArgs) -> syn::Result<TokenStream> {
    if let Some(expr) = &args.conn {
        // A method call, so autoderef reaches the `Conn` in `self.db` and in `db: &mut Conn`.
        let span = expr.span();
        let method = quote_spanned!(span=> __oncommit_conn);
        return Ok(match expr {
            Expr::Path(_) | Expr::Field(_) | Expr::Index(_) => quote!(#expr.#method()),
            _ => quote!((#expr).#method()),
        });
    }
    let param = conn_param(sig)?;
    let ident = &param.ident;
    Ok(match param.how {
        Chosen::Spelled => quote!(&mut *#ident),
        Chosen::OnlyMut | Chosen::Named => {
            // Spanned at the parameter's type, from its first token to its last (rustc
            // joins the spans of an expression's first and last tokens): a type that is not
            // a `Conn` is reported there, once (every use of the place is the same call at
            // the same spans).
            let mut tokens = param.ty.to_token_stream().into_iter();
            let first = tokens.next().map_or_else(|| param.ty.span(), |t| t.span());
            let last = tokens.last().map_or(first, |t| t.span());
            let v1 = crate::tokens::Private::Alias.at(first);
            let mut ident = Ident::clone(ident);
            ident.set_span(ident.span().located_at(last));
            let call = quote_spanned!(last=> atomic_conn);
            quote_spanned!(first=> #v1::#call(&mut *#ident))
        }
    })
}

/// The connection parameter of an `#[atomic]` fn without `conn = EXPR`.
pub(crate) struct ConnParam<'a> {
    /// Its name.
    pub(crate) ident: &'a Ident,
    /// Its declared type (`&mut Conn<C>`, `&mut Db`).
    pub(crate) ty: &'a Type,
    /// Why it was chosen.
    pub(crate) how: Chosen,
}

/// How [`conn_param`] chose the connection parameter.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Chosen {
    /// The one parameter spelled `&mut Conn<..>` (or `&mut path::Conn<..>`).
    Spelled,
    /// No parameter is spelled so, and this is the only `&mut` one.
    OnlyMut,
    /// No parameter is spelled so, and of the `&mut` ones this is the one named `conn`,
    /// `db` or `tx`.
    Named,
}

/// The names that pick the connection among several `&mut` parameters.
const CONN_NAMES: [&str; 3] = ["conn", "db", "tx"];

/// The connection parameter: the one spelled `&mut Conn<..>`; when none is, the one `&mut`
/// parameter bound to a name (a type alias of `Conn`, `use oncommit::Conn as Tx`), or among
/// several the one named `conn`, `db` or `tx`. A parameter that mentions `Conn` without
/// `&mut` (`&Conn<..>`, `Conn<..>`) is reported rather than passed over for a guess.
pub(crate) fn conn_param(sig: &Signature) -> syn::Result<ConnParam<'_>> {
    let typed = || {
        sig.inputs.iter().filter_map(|arg| match arg {
            FnArg::Typed(typed) => Some(typed),
            FnArg::Receiver(_) => None,
        })
    };
    let spelled: Vec<&syn::PatType> = typed().filter(|t| is_mut_conn(&t.ty)).collect();
    match spelled.as_slice() {
        [] => {}
        [one] => {
            return match &*one.pat {
                Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => Ok(ConnParam {
                    ident: &pat.ident,
                    ty: &one.ty,
                    how: Chosen::Spelled,
                }),
                other => Err(syn::Error::new_spanned(
                    other,
                    "#[atomic] needs the `&mut Conn<..>` parameter bound to a name, e.g. \
                     `conn: &mut Conn<C>`",
                )),
            };
        }
        [first, rest @ ..] => {
            let names: Vec<String> = spelled
                .iter()
                .map(|c| crate::syntax::source_text(c.pat.to_token_stream()))
                .collect();
            let message = format!(
                "#[atomic] found several `&mut Conn<..>` parameters ({}): say which one holds \
                 the transaction with `#[atomic(conn = {})]`",
                quoted_list(&names),
                names[0],
            );
            let mut error = syn::Error::new_spanned(first, &message);
            for other in rest {
                error.combine(syn::Error::new_spanned(other, &message));
            }
            return Err(error);
        }
    }
    const NEEDS: &str = "#[atomic] needs the connection: a parameter of type \
                         `&mut Conn<..>`, or `#[atomic(conn = EXPR)]` naming where it \
                         is (e.g. `#[atomic(conn = self.db)]`)";
    // `conn: &Conn<..>` or `conn: Conn<..>`: point at it.
    if let Some(typed) = typed().find(|t| mentions_conn(&t.ty)) {
        return Err(syn::Error::new_spanned(
            &typed.ty,
            format!(
                "{NEEDS}; found `{}`: the transaction needs `&mut` access",
                type_text(&typed.ty)
            ),
        ));
    }
    // No parameter is spelled `&mut Conn<..>`: a `&mut` one bound to a name may be an alias
    // of it (`&mut Db`, `&mut Tx<C>`); the expansion checks its type.
    let candidates: Vec<(&Ident, &Type)> = typed()
        .filter_map(|t| match (&*t.pat, &*t.ty) {
            (Pat::Ident(pat), Type::Reference(reference))
                if reference.mutability.is_some()
                    && pat.by_ref.is_none()
                    && pat.subpat.is_none() =>
            {
                Some((&pat.ident, &*t.ty))
            }
            _ => None,
        })
        .collect();
    let named: Vec<&(&Ident, &Type)> = candidates
        .iter()
        .filter(|(ident, _)| CONN_NAMES.iter().any(|name| ident == name))
        .collect();
    match (candidates.as_slice(), named.as_slice()) {
        ([], _) => Err(syn::Error::new(sig.paren_token.span.join(), NEEDS)),
        ([(ident, ty)], _) => Ok(ConnParam {
            ident,
            ty,
            how: Chosen::OnlyMut,
        }),
        (_, [(ident, ty)]) => Ok(ConnParam {
            ident,
            ty,
            how: Chosen::Named,
        }),
        (all, named) => {
            // Several named `conn`/`db`/`tx`: those; none: every `&mut` parameter.
            let shown: Vec<&(&Ident, &Type)> = if named.len() > 1 {
                named.to_vec()
            } else {
                all.iter().collect()
            };
            let names: Vec<String> = shown.iter().map(|(ident, _)| ident.to_string()).collect();
            let message = format!(
                "#[atomic] cannot tell which parameter holds the connection: none is spelled \
                 `&mut Conn<..>`, and several `&mut` parameters could be it ({}); name the \
                 connection `conn`, `db` or `tx` (and no other), spell its type \
                 `&mut Conn<..>`, or say which with `#[atomic(conn = {})]`",
                quoted_list(&names),
                names.first().map_or("conn", String::as_str),
            );
            let mut error: Option<syn::Error> = None;
            for (_, ty) in shown {
                let one = syn::Error::new_spanned(ty, &message);
                match &mut error {
                    Some(all) => all.combine(one),
                    None => error = Some(one),
                }
            }
            Err(error.unwrap_or_else(|| syn::Error::new(sig.paren_token.span.join(), message)))
        }
    }
}

/// `` `a`, `b` ``.
fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The local name the connection place starts from, when it is one that the body could
/// shadow: the connection parameter, or `conn = name`.
pub(crate) fn conn_name(sig: &Signature, args: &AtomicArgs) -> Option<Ident> {
    if let Some(expr) = &args.conn {
        return match expr {
            Expr::Path(path) => path.path.get_ident().cloned(),
            _ => None,
        };
    }
    conn_param(sig).ok().map(|param| param.ident.clone())
}

/// Bindings in `block` that shadow the connection's name: `enqueue!` there would defer on
/// whatever the new binding is. One error per binding.
pub(crate) fn shadows(block: &syn::Block, name: &Ident) -> Vec<syn::Error> {
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
pub(crate) fn is_mut_conn(ty: &Type) -> bool {
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
pub(crate) fn mentions_conn(ty: &Type) -> bool {
    let ty = match ty {
        Type::Reference(reference) => &*reference.elem,
        other => other,
    };
    matches!(ty, Type::Path(path) if path.path.segments.last().is_some_and(|s| s.ident == "Conn"))
}

/// The variable a place expression starts from: `db` in `db`, `db.inner`, `(*db).0`.
pub(crate) fn root_ident(expr: &Expr) -> Option<Ident> {
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
