//! The body walker: finds every `enqueue!` in an `#[atomic]` body and replaces it.
//!
//! `enqueue!` is found as a statement (`Stmt::Macro`), as an expression (`Expr::Macro`: a
//! match arm, a closure body, an argument), in nested blocks, closures and async blocks, and
//! inside the token arguments of other macros (`vec![..]`, `println!(..)`) when those parse as
//! comma-separated expressions. Nested items (`fn`, `impl`, ...) are skipped: their own
//! `#[atomic]` (if any) handles them.
//!
//! Only `proc_macro2` is used, never `proc_macro`.

use quote::ToTokens;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, Macro, Stmt, Token};

use crate::enqueue::{self, EnqueueInput};
use crate::syntax::{Parsed, is_enqueue, mentions_enqueue};

/// What replaces one `enqueue!`.
pub trait Rewrite {
    /// The replacement expression for `enqueue!(input)`; `mac` is the original invocation
    /// (for spans). An `Err` is reported and the invocation replaced by an inert expression.
    fn rewrite(&mut self, mac: &Macro, input: EnqueueInput) -> syn::Result<Expr>;

    /// What replaces an invocation that failed to parse or rewrite.
    fn inert(&mut self, mac: &Macro) -> Expr;
}

/// Replaces every reachable `enqueue!` in `block` through `rewriter`; returns the errors.
pub fn rewrite_block<R: Rewrite>(block: &mut syn::Block, rewriter: &mut R) -> Vec<syn::Error> {
    rewrite_block_parsed(block, rewriter, Parsed::default())
}

/// [`rewrite_block`], with the inputs of some of `block`'s own `enqueue!`s already parsed.
pub fn rewrite_block_parsed<R: Rewrite>(
    block: &mut syn::Block,
    rewriter: &mut R,
    parsed: Parsed,
) -> Vec<syn::Error> {
    let mut walker = Walker {
        rewriter,
        errors: Vec::new(),
        found: 0,
        own_sites: 0,
        moving: None,
        parsed,
        in_tokens: 0,
    };
    walker.visit_block_mut(block);
    walker.errors
}

struct Walker<'r, R> {
    rewriter: &'r mut R,
    errors: Vec<syn::Error>,
    /// `enqueue!` invocations replaced so far.
    found: usize,
    /// Those of the body's own tree (not in other macros' tokens): the next site number.
    own_sites: usize,
    /// The `move` of the innermost enclosing `move` closure or `async move` block.
    moving: Option<proc_macro2::Span>,
    /// Inputs of the block's own `enqueue!`s parsed beforehand, by site number.
    parsed: Parsed,
    /// Non-zero while walking syntax parsed from another macro's tokens, whose `enqueue!`s
    /// are not in `parsed`.
    in_tokens: usize,
}

impl<R: Rewrite> Walker<'_, R> {
    fn replace(&mut self, mac: &Macro) -> Expr {
        self.found += 1;
        let moving = self.moving;
        let parsed = match self.in_tokens {
            0 => {
                self.own_sites += 1;
                self.parsed.take(self.own_sites - 1)
            }
            _ => None,
        };
        let input = match parsed {
            Some(input) => Ok(input),
            None => enqueue::parse_at(mac.tokens.clone(), mac.path.span()),
        };
        let result = input.and_then(|input| {
            match moving {
                // The plain form names the fn's connection: a `move` closure would take it,
                // and the transaction needs it again at COMMIT.
                Some(span) if input.conn.is_none() => Err(syn::Error::new(
                    span,
                    "this `move` closure (or `async move` block) contains `enqueue!`, which \
                     uses the #[atomic] fn's connection: `move` would move the connection \
                     into it, and the transaction needs it again at COMMIT; remove `move` \
                     (`enqueue!` already moves the values it captures). A spawned task \
                     (`tokio::spawn(async move { .. })`) runs outside the transaction: \
                     `enqueue!` before spawning it, or enqueue a call that spawns it",
                )),
                _ => self.rewriter.rewrite(mac, input),
            }
        });
        match result {
            Ok(expr) => expr,
            Err(error) => {
                self.errors.push(error);
                self.rewriter.inert(mac)
            }
        }
    }

    /// Rewrites `enqueue!` inside another macro's arguments, when they parse as
    /// comma-separated expressions. The tokens are left untouched otherwise.
    fn rewrite_in_tokens(&mut self, mac: &mut Macro) {
        if !mentions_enqueue(mac.tokens.clone(), false) {
            return;
        }
        let parser = Punctuated::<Expr, Token![,]>::parse_terminated;
        let Ok(mut args) = parser.parse2(mac.tokens.clone()) else {
            return;
        };
        let before = self.found;
        self.in_tokens += 1;
        for arg in args.iter_mut() {
            self.visit_expr_mut(arg);
        }
        self.in_tokens -= 1;
        if self.found != before {
            mac.tokens = args.into_token_stream();
        }
    }
}

impl<R: Rewrite> VisitMut for Walker<'_, R> {
    fn visit_stmt_mut(&mut self, stmt: &mut Stmt) {
        if let Stmt::Macro(stmt_mac) = stmt
            && is_enqueue(&stmt_mac.mac)
        {
            let expr = self.replace(&stmt_mac.mac);
            let semi = stmt_mac
                .semi_token
                .unwrap_or_else(|| Token![;](proc_macro2::Span::call_site()));
            *stmt = Stmt::Expr(expr, Some(semi));
            return;
        }
        visit_mut::visit_stmt_mut(self, stmt);
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        if let Expr::Macro(expr_mac) = expr
            && is_enqueue(&expr_mac.mac)
        {
            *expr = self.replace(&expr_mac.mac);
            return;
        }
        visit_mut::visit_expr_mut(self, expr);
    }

    fn visit_macro_mut(&mut self, mac: &mut Macro) {
        // Reached for macros other than `enqueue!` (statement and expression position).
        self.rewrite_in_tokens(mac);
    }

    fn visit_expr_closure_mut(&mut self, closure: &mut syn::ExprClosure) {
        let outer = self.moving;
        if let Some(token) = &closure.capture {
            self.moving = Some(token.span);
        }
        visit_mut::visit_expr_closure_mut(self, closure);
        self.moving = outer;
    }

    fn visit_expr_async_mut(&mut self, block: &mut syn::ExprAsync) {
        let outer = self.moving;
        if let Some(token) = &block.capture {
            self.moving = Some(token.span);
        }
        visit_mut::visit_expr_async_mut(self, block);
        self.moving = outer;
    }

    fn visit_item_mut(&mut self, _item: &mut syn::Item) {
        // A nested item is not part of this transaction.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::TokenStream;
    use quote::quote;

    struct Mark;

    impl Rewrite for Mark {
        fn rewrite(&mut self, _mac: &Macro, input: EnqueueInput) -> syn::Result<Expr> {
            let text = input.text;
            Ok(syn::parse_quote!(hooked(#text)))
        }
        fn inert(&mut self, _mac: &Macro) -> Expr {
            syn::parse_quote!(())
        }
    }

    fn rewrite(tokens: TokenStream) -> (String, Vec<String>) {
        let mut block: syn::Block = match syn::parse2(tokens) {
            Ok(block) => block,
            Err(e) => panic!("{e}"),
        };
        let errors = rewrite_block(&mut block, &mut Mark);
        (
            block.into_token_stream().to_string(),
            errors.iter().map(ToString::to_string).collect(),
        )
    }

    #[test]
    fn finds_every_position() {
        let (out, errors) = rewrite(quote!({
            enqueue!(a.b(1));
            let _ = match x {
                1 => enqueue!(f(1)),
                _ => (),
            };
            xs.iter().for_each(|x| enqueue!(g(*x)));
            {
                {
                    oncommit::enqueue!(h());
                }
            }
            let v = vec![enqueue!(i(1)), enqueue!(j(2))];
            fn nested() {
                enqueue!(k());
            }
        }));
        assert!(errors.is_empty(), "{errors:?}");
        for call in ["a.b(1)", "f(1)", "g(*x)", "h()", "i(1)", "j(2)"] {
            assert!(
                out.contains(&format!("hooked (\"{call}\")")),
                "{call} in {out}"
            );
        }
        assert!(
            out.contains("enqueue ! (k ())"),
            "nested fn untouched: {out}"
        );
    }

    #[test]
    fn rejects_the_plain_form_in_move_closures() {
        let (out, errors) = rewrite(quote!({
            xs.for_each(move |x| enqueue!(f(x)));
            let _ = async move { enqueue!(g()) };
            xs.for_each(move |x| enqueue!(c => f(x)));
            xs.for_each(|x| enqueue!(h(x)));
        }));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("`move` closure"), "{errors:?}");
        assert!(
            out.contains("hooked (\"f(x)\")") && out.contains("hooked (\"h(x)\")"),
            "{out}"
        );
    }

    #[test]
    fn reports_bad_forms_and_continues() {
        let (out, errors) = rewrite(quote!({
            enqueue!({ f() });
            enqueue!(user.email);
            enqueue!(ok());
        }));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(out.contains("hooked (\"ok()\")"), "{out}");
    }
}
