//! Syntax helpers the stages share: what counts as an `enqueue!`, whether tokens mention one,
//! the `enqueue!` sites of a body (numbered in walk order so that the loop-borrow check can
//! hand its parsed inputs to the rewrite), places and spans of expressions, and source text
//! as rustfmt would print it (for messages and hook sites).

use std::fmt::Write as _;

use proc_macro2::{Delimiter, Spacing, Span, TokenStream, TokenTree};
use syn::spanned::Spanned;
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

/// True for expressions that name a place (`mailer`, `self.mailer`, `*m`): a receiver that is
/// one is cloned into the hook, not moved. The expansion and the loop-borrow check both ask.
pub(crate) fn is_place(expr: &Expr) -> bool {
    match expr {
        Expr::Path(_) | Expr::Field(_) | Expr::Index(_) => true,
        Expr::Unary(unary) => matches!(unary.op, syn::UnOp::Deref(_)),
        Expr::Paren(paren) => is_place(&paren.expr),
        Expr::Group(group) => is_place(&group.expr),
        _ => false,
    }
}
/// `expr.span()` (`syn::spanned::Spanned`: the first token's span joined with the last
/// one's), without printing `expr` when its first and last tokens can be read off the tree.
pub(crate) fn span_of(expr: &Expr) -> Span {
    match edges(expr) {
        Some((first, Some(last))) => first.join(last).unwrap_or(first),
        Some((first, None)) => first,
        None => expr.span(),
    }
}
/// The spans of the first and the last token `expr` prints as (`None` for the last when it
/// prints as one token), for the shapes where the tree holds them; `None` otherwise.
fn edges(expr: &Expr) -> Option<(Span, Option<Span>)> {
    match expr {
        Expr::Path(p) if p.attrs.is_empty() && p.qself.is_none() => {
            let last = p.path.segments.last()?;
            if !last.arguments.is_none() {
                return None;
            }
            let first = match &p.path.leading_colon {
                Some(colon) => colon.spans[0],
                None => p.path.segments.first()?.ident.span(),
            };
            let single = p.path.leading_colon.is_none() && p.path.segments.len() == 1;
            Some((first, (!single).then(|| last.ident.span())))
        }
        Expr::Field(f) if f.attrs.is_empty() => {
            let last = match &f.member {
                syn::Member::Named(ident) => ident.span(),
                syn::Member::Unnamed(index) => index.span,
            };
            Some((first_span(&f.base), Some(last)))
        }
        Expr::MethodCall(m) if m.attrs.is_empty() => {
            Some((first_span(&m.receiver), Some(m.paren_token.span.join())))
        }
        Expr::Call(c) if c.attrs.is_empty() => {
            Some((first_span(&c.func), Some(c.paren_token.span.join())))
        }
        Expr::Await(a) if a.attrs.is_empty() => {
            Some((first_span(&a.base), Some(a.await_token.span)))
        }
        Expr::Try(t) if t.attrs.is_empty() => {
            Some((first_span(&t.expr), Some(t.question_token.spans[0])))
        }
        Expr::Paren(p) if p.attrs.is_empty() => Some((p.paren_token.span.join(), None)),
        Expr::Lit(l) if l.attrs.is_empty() => Some((l.lit.span(), None)),
        Expr::Struct(s) if s.attrs.is_empty() && s.qself.is_none() => {
            Some((path_first_span(&s.path)?, Some(s.brace_token.span.join())))
        }
        Expr::Macro(m) if m.attrs.is_empty() => {
            let close = match &m.mac.delimiter {
                syn::MacroDelimiter::Paren(paren) => paren.span.join(),
                syn::MacroDelimiter::Brace(brace) => brace.span.join(),
                syn::MacroDelimiter::Bracket(bracket) => bracket.span.join(),
            };
            Some((path_first_span(&m.mac.path)?, Some(close)))
        }
        Expr::Cast(c) if c.attrs.is_empty() => {
            // `x as u64`, `x as std::time::Duration`: a path type without generics.
            let syn::Type::Path(ty) = &*c.ty else {
                return None;
            };
            let last = ty.path.segments.last()?;
            if ty.qself.is_some() || !last.arguments.is_none() {
                return None;
            }
            Some((first_span(&c.expr), Some(last.ident.span())))
        }
        Expr::Reference(r) if r.attrs.is_empty() => {
            Some((r.and_token.span, Some(last_span(&r.expr)?)))
        }
        Expr::Unary(u) if u.attrs.is_empty() => {
            let op = match u.op {
                syn::UnOp::Deref(star) => star.span,
                syn::UnOp::Not(not) => not.span,
                syn::UnOp::Neg(minus) => minus.span,
                _ => return None,
            };
            Some((op, Some(last_span(&u.expr)?)))
        }
        _ => None,
    }
}
/// The span of the first token of a path (its leading `::` or first segment).
fn path_first_span(path: &syn::Path) -> Option<Span> {
    match &path.leading_colon {
        Some(colon) => Some(colon.spans[0]),
        None => Some(path.segments.first()?.ident.span()),
    }
}
/// The span of the last token `expr` prints as, when the tree holds it.
fn last_span(expr: &Expr) -> Option<Span> {
    edges(expr).map(|(first, last)| last.unwrap_or(first))
}
/// The span of the first token `expr` prints as.
fn first_span(expr: &Expr) -> Span {
    match edges(expr) {
        Some((first, _)) => first,
        None => quote::ToTokens::to_token_stream(expr)
            .into_iter()
            .next()
            .map_or_else(Span::call_site, |tt| tt.span()),
    }
}
/// Source text of a token stream, with the whitespace rustfmt would use for a call:
/// `mailer.send(id, &name)`, `queue.push(Job { id }).await?`.
pub(crate) fn source_text(tokens: TokenStream) -> String {
    let mut out = String::new();
    write_tokens(&mut out, tokens);
    out
}
fn write_tokens(out: &mut String, tokens: TokenStream) {
    // `prev_glue`: the previous token forbids a space after it.
    let mut prev_glue = true;
    let mut prev_ident_like = false;
    let mut prev_colon = false;
    // `<` `>` of a turbofish (`::<T>`).
    let mut angle_depth = 0usize;
    let mut prev_path_sep = false;
    let mut closure_params = false;
    for tt in tokens {
        match tt {
            TokenTree::Group(g) => {
                let (open, close) = match g.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::None => ("", ""),
                };
                // `f(` and `x[` glue to what precedes; `{` gets a space.
                let spaced = match g.delimiter() {
                    Delimiter::Brace | Delimiter::None => !prev_glue,
                    // `f(x)`, `xs[0]` glue; `, (a, b)` and `= [1]` do not
                    Delimiter::Parenthesis | Delimiter::Bracket => !prev_glue && !prev_ident_like,
                };
                if spaced {
                    out.push(' ');
                }
                out.push_str(open);
                let inner = g.stream();
                let brace = g.delimiter() == Delimiter::Brace && !inner.is_empty();
                if brace {
                    out.push(' ');
                }
                write_tokens(out, inner);
                if brace {
                    out.push(' ');
                }
                out.push_str(close);
                prev_glue = false;
                prev_ident_like = true;
            }
            TokenTree::Ident(i) => {
                if !prev_glue {
                    out.push(' ');
                }
                // keywords before an operand: `move |x|`, `&mut *x`, `return -1`
                prev_ident_like = !(i == "move" || i == "mut" || i == "return" || i == "in");
                // Written in place: no intermediate `String` per token.
                let _ = write!(out, "{i}");
                prev_glue = false;
            }
            TokenTree::Literal(l) => {
                if !prev_glue {
                    out.push(' ');
                }
                let _ = write!(out, "{l}");
                prev_glue = false;
                prev_ident_like = true;
            }
            TokenTree::Punct(p) => {
                let c = p.as_char();
                let joint = p.spacing() == Spacing::Joint;
                let mut ident_like_after = false;
                match c {
                    // no space before, no space after
                    // `::<`, and `<` nested inside one (`::<Vec<_>>`)
                    '<' if prev_path_sep || angle_depth > 0 => {
                        out.push(c);
                        angle_depth += 1;
                        prev_glue = true;
                    }
                    // `>>` of nested generics arrives as a joint `>` then `>`
                    '>' if angle_depth > 0 => {
                        out.push(c);
                        angle_depth -= 1;
                        prev_glue = joint;
                        ident_like_after = true;
                    }
                    '.' => {
                        // `x.m`, `a..b` glue; `, ..rest` does not
                        if !prev_glue && !prev_ident_like {
                            out.push(' ');
                        }
                        out.push(c);
                        prev_glue = true;
                    }
                    // closure parameters: `|a, b| body`, `|| body`
                    '|' if closure_params => {
                        out.push(c);
                        closure_params = false;
                        prev_glue = false;
                    }
                    '|' if !prev_ident_like => {
                        if !prev_glue {
                            out.push(' ');
                        }
                        out.push(c);
                        closure_params = true;
                        prev_glue = true;
                    }
                    // `::` glues; a lone `:` (struct field) is followed by a space
                    ':' => {
                        out.push(c);
                        prev_glue = joint || prev_colon;
                        prev_path_sep = prev_colon;
                        prev_colon = joint;
                        prev_ident_like = false;
                        continue;
                    }
                    // no space before, space after
                    ',' | ';' => {
                        out.push(c);
                        prev_glue = false;
                    }
                    '?' => {
                        out.push(c);
                        prev_glue = false;
                    }
                    '!' if prev_ident_like && !joint => {
                        // a macro call: `vec!`
                        out.push(c);
                        prev_glue = true;
                    }
                    // prefix operators when they start an operand
                    '&' | '*' | '-' | '!' if !prev_ident_like => {
                        if !prev_glue {
                            out.push(' ');
                        }
                        out.push(c);
                        prev_glue = true;
                    }
                    '\'' => {
                        if !prev_glue {
                            out.push(' ');
                        }
                        out.push(c);
                        prev_glue = true;
                    }
                    _ => {
                        if !prev_glue {
                            out.push(' ');
                        }
                        out.push(c);
                        prev_glue = joint;
                    }
                }
                prev_ident_like = ident_like_after;
                prev_colon = false;
                prev_path_sep = false;
                continue;
            }
        }
        prev_colon = false;
        prev_path_sep = false;
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
