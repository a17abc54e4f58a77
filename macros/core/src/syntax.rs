//! Syntax helpers the stages share: what counts as an `enqueue!`, whether tokens mention one,
//! and the `enqueue!` sites of a body, numbered in walk order so that the loop-borrow check
//! can hand its parsed inputs to the rewrite.

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::{self, Visit};
use syn::{Expr, Macro, Stmt};

use crate::enqueue::EnqueueInput;

/// `enqueue!` or `path::to::enqueue!`.
pub(crate) fn is_enqueue(mac: &Macro) -> bool {
    mac.path
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "enqueue" && segment.arguments.is_none())
}

/// Whether `tokens` mention `enqueue` followed by `!` (anywhere, in nested groups too), or,
/// with `or_let`, the keyword `let`.
pub(crate) fn mentions_enqueue(tokens: TokenStream, or_let: bool) -> bool {
    let mut previous_is_enqueue = false;
    for tt in tokens {
        match tt {
            TokenTree::Ident(ident) => {
                if or_let && ident == "let" {
                    return true;
                }
                previous_is_enqueue = ident == "enqueue";
                continue;
            }
            TokenTree::Punct(p) if p.as_char() == '!' && previous_is_enqueue => return true,
            TokenTree::Group(group) if mentions_enqueue(group.stream(), or_let) => return true,
            _ => {}
        }
        previous_is_enqueue = false;
    }
    false
}

/// `expr` without the parentheses (and invisible groups) around it.
pub(crate) fn strip_parens(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(p) => strip_parens(&p.expr),
        Expr::Group(g) => strip_parens(&g.expr),
        other => other,
    }
}

/// The `enqueue!` sites of a body's own syntax tree, in the order the rewrite visits them
/// (syn's traversal order; nested items and other macros' tokens excluded, as the rewrite
/// excludes them), with the inputs the loop-borrow check parsed for some of them.
///
/// The check walks the body in its own order and looks each invocation up among the sites
/// (references into the body it borrows, compared by identity); the rewrite then takes the
/// inputs by position, counting the sites it reaches. Nothing outlives the borrow of the
/// body but the inputs.
pub(crate) struct Sites<'a> {
    sites: Vec<&'a Macro>,
    inputs: Vec<Option<EnqueueInput>>,
}

impl<'a> Sites<'a> {
    /// The sites of `body`.
    pub(crate) fn of(body: &'a syn::Block) -> Self {
        struct Collect<'a>(Vec<&'a Macro>);
        impl<'a> Visit<'a> for Collect<'a> {
            fn visit_stmt(&mut self, stmt: &'a Stmt) {
                match stmt {
                    Stmt::Macro(stmt) if is_enqueue(&stmt.mac) => self.0.push(&stmt.mac),
                    _ => visit::visit_stmt(self, stmt),
                }
            }
            fn visit_expr(&mut self, expr: &'a Expr) {
                match expr {
                    Expr::Macro(expr) if is_enqueue(&expr.mac) => self.0.push(&expr.mac),
                    _ => visit::visit_expr(self, expr),
                }
            }
            fn visit_macro(&mut self, _mac: &'a Macro) {}
            fn visit_item(&mut self, _item: &'a syn::Item) {}
        }
        let mut collect = Collect(Vec::new());
        collect.visit_block(body);
        let inputs = collect.0.iter().map(|_| None).collect();
        Sites {
            sites: collect.0,
            inputs,
        }
    }

    /// Records the parsed input of `mac`, if it is one of the body's own sites.
    pub(crate) fn insert(&mut self, mac: &Macro, input: EnqueueInput) {
        if let Some(index) = self.sites.iter().position(|site| std::ptr::eq(*site, mac)) {
            self.inputs[index] = Some(input);
        }
    }

    /// The parsed inputs, by site number (the body's borrow ends here).
    pub(crate) fn into_parsed(self) -> Parsed {
        Parsed(self.inputs)
    }
}

/// Parsed `enqueue!` inputs by site number (see [`Sites`]).
#[derive(Default)]
pub(crate) struct Parsed(Vec<Option<EnqueueInput>>);

impl Parsed {
    /// The parsed input of site `index`, if the check parsed it (taken out).
    pub(crate) fn take(&mut self, index: usize) -> Option<EnqueueInput> {
        self.0.get_mut(index).and_then(Option::take)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;

    /// The sites are the body's own `enqueue!`s in the order the rewrite reaches them:
    /// not those in a nested fn, nor those in another macro's tokens.
    #[test]
    fn sites_are_numbered_in_rewrite_order() {
        let body: syn::Block = syn::parse_quote!({
            enqueue!(a());
            let _ = match x {
                1 => enqueue!(b()),
                _ => (),
            };
            xs.iter().for_each(|x| enqueue!(c(*x)));
            let v = vec![enqueue!(in_tokens())];
            fn nested() {
                enqueue!(nested());
            }
            oncommit::enqueue!(d());
        });
        let sites = Sites::of(&body);
        let calls: Vec<String> = sites
            .sites
            .iter()
            .map(|mac| mac.tokens.to_token_stream().to_string())
            .collect();
        assert_eq!(calls, ["a ()", "b ()", "c (* x)", "d ()"]);
    }

    #[test]
    fn mentions() {
        let tokens: TokenStream = syn::parse_quote!(vec![1, { enqueue!(f()) }]);
        assert!(mentions_enqueue(tokens, false));
        let tokens: TokenStream = syn::parse_quote!(if let Some(x) = y {
            x
        });
        assert!(!mentions_enqueue(tokens.clone(), false));
        assert!(mentions_enqueue(tokens, true));
        let tokens: TokenStream = syn::parse_quote!(enqueue + 1);
        assert!(!mentions_enqueue(tokens, false));
    }
}
