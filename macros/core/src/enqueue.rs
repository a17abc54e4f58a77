//! Parsing of the `enqueue!` input.
//!
//! Accepted forms (`CALL` is a path call `f(a, b)` or a method call `x.m(a)`, optionally
//! followed by `.await` and then `?`):
//!
//! ```text
//! enqueue!(CALL)
//! enqueue!(CALL, robust)
//! enqueue!(conn => CALL)
//! enqueue!(conn => CALL, robust)
//! ```

use std::fmt::Write as _;

use proc_macro2::{Delimiter, Spacing, Span, TokenStream, TokenTree};
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{AngleBracketedGenericArguments, Expr, Ident, Token};

/// The accepted forms, quoted in every parse error.
pub const ACCEPTED_FORMS: &str = "accepted forms: `enqueue!(CALL)`, `enqueue!(CALL, robust)`, \
     `enqueue!(conn => CALL)`, `enqueue!(conn => CALL, robust)`, where CALL is a function call \
     `path(args)` or a method call `receiver.method(args)`, optionally followed by `.await` \
     and/or `?`";

/// A parsed `enqueue!(...)` input.
#[derive(Debug, Clone)]
pub struct EnqueueInput {
    /// The explicit connection of `enqueue!(conn => CALL)`.
    pub conn: Option<Expr>,
    /// The deferred call.
    pub call: Call,
    /// `enqueue!(CALL, robust)`: failures are logged, never returned.
    pub robust: bool,
    /// The call's source text as the user wrote it (whitespace normalised), e.g.
    /// `mailer.send(id)`.
    pub text: String,
    /// A span inside the `enqueue!` input (the first token of `CALL`), used for errors and
    /// for the hook's location when the macro's own span is not known.
    pub span: Span,
}

/// What is called: the callee shape with the values to capture.
#[derive(Debug, Clone)]
pub enum CallKind {
    /// `receiver.method::<T>(args)`.
    Method {
        /// The receiver expression.
        receiver: Box<Expr>,
        /// The method name.
        method: Ident,
        /// `::<...>` after the method name.
        turbofish: Option<AngleBracketedGenericArguments>,
        /// The arguments, in order.
        args: Vec<Expr>,
    },
    /// `path::to::f(args)`.
    Path {
        /// The callee (an `Expr::Path`).
        func: Box<Expr>,
        /// The arguments, in order.
        args: Vec<Expr>,
    },
}

/// The call inside `enqueue!`.
#[derive(Debug, Clone)]
pub struct Call {
    /// The callee shape and the values to capture.
    pub kind: CallKind,
    /// The call ends in `.await`: the hook is async.
    pub awaited: bool,
    /// The call ends in `?`: an error propagates into the hook's `Result`.
    pub tried: bool,
    /// The span of the whole call expression as written (with `.await` / `?`), as
    /// `syn::spanned::Spanned` gives it.
    pub span: Span,
    /// The span of the `.await` keyword, when the call ends in `.await` / `.await?`.
    pub await_span: Option<Span>,
}

impl Call {
    /// The values evaluated at the `enqueue!` and moved into the hook: the receiver (method
    /// calls) then each argument, left to right.
    pub fn captured(&self) -> Vec<&Expr> {
        match &self.kind {
            CallKind::Method { receiver, args, .. } => {
                std::iter::once(&**receiver).chain(args.iter()).collect()
            }
            CallKind::Path { args, .. } => args.iter().collect(),
        }
    }

    /// The arguments, in order.
    pub fn args(&self) -> &[Expr] {
        match &self.kind {
            CallKind::Method { args, .. } | CallKind::Path { args, .. } => args,
        }
    }
}

/// Parses the tokens inside `enqueue!(...)`.
pub fn parse(tokens: TokenStream) -> syn::Result<EnqueueInput> {
    parse_at(tokens, Span::call_site())
}

/// [`parse`], with `empty_span` for the error on an empty `enqueue!()`.
pub fn parse_at(tokens: TokenStream, empty_span: Span) -> syn::Result<EnqueueInput> {
    let text_tokens = tokens.clone();
    let parsed = (|input: ParseStream| parse_input(input, empty_span)).parse2(tokens);
    parsed.map(
        |(conn, call, robust, call_tokens, first_span)| EnqueueInput {
            conn,
            call,
            robust,
            text: source_text(if call_tokens.is_empty() {
                text_tokens
            } else {
                call_tokens
            }),
            span: first_span,
        },
    )
}

fn form_error(span: Span, what: &str) -> syn::Error {
    syn::Error::new(span, format!("{what}; {ACCEPTED_FORMS}"))
}

/// The explicit connection, the call, `robust`, the call's tokens as written (empty when
/// the call is the whole input), and the span of the input's first token.
type Parsed = (Option<Expr>, Call, bool, TokenStream, Span);

fn parse_input(input: ParseStream, empty_span: Span) -> syn::Result<Parsed> {
    if input.is_empty() {
        return Err(form_error(
            empty_span,
            "`enqueue!` needs a call to defer until after COMMIT",
        ));
    }
    // The first token tree's span (a group's whole span), read off the parse buffer.
    let first_span = input.cursor().span();
    let start = input.fork();
    let first: Expr = input
        .parse()
        .map_err(|e| form_error(e.span(), "`enqueue!` expects a call"))?;
    let (conn, call_expr, call_tokens) = if input.peek(Token![=>]) {
        input.parse::<Token![=>]>()?;
        if input.is_empty() {
            return Err(form_error(input.span(), "missing the call after `conn =>`"));
        }
        let fork = input.fork();
        let expr: Expr = input
            .parse()
            .map_err(|e| form_error(e.span(), "`enqueue!` expects a call after `conn =>`"))?;
        let tokens = tokens_between(&fork, input);
        (Some(first), expr, tokens)
    } else if input.is_empty() {
        // The call is the whole input: its text is the input's (empty: see `parse_at`).
        (None, first, TokenStream::new())
    } else {
        let tokens = tokens_between(&start, input);
        (None, first, tokens)
    };
    let mut robust = false;
    if input.peek(Token![,]) {
        input.parse::<Token![,]>()?;
        if !input.is_empty() {
            let option: Ident = input.parse().map_err(|e| {
                form_error(
                    e.span(),
                    "expected `robust` after the call (the only option of `enqueue!`)",
                )
            })?;
            if option != "robust" {
                return Err(form_error(
                    option.span(),
                    &format!("unknown `enqueue!` option `{option}`: the only option is `robust`"),
                ));
            }
            robust = true;
            if input.peek(Token![,]) {
                input.parse::<Token![,]>()?;
            }
        }
    }
    if !input.is_empty() {
        return Err(form_error(
            input.span(),
            "unexpected tokens after the call in `enqueue!`",
        ));
    }
    let call = classify(call_expr)?;
    Ok((conn, call, robust, call_tokens, first_span))
}

fn tokens_between(start: &syn::parse::ParseBuffer, end: ParseStream) -> TokenStream {
    let mut out = TokenStream::new();
    let end_cursor = end.cursor();
    let _ = start.step(|cursor| {
        let mut rest = *cursor;
        while rest != end_cursor {
            match rest.token_tree() {
                Some((tt, next)) => {
                    out.extend(std::iter::once(tt));
                    rest = next;
                }
                None => break,
            }
        }
        Ok(((), rest))
    });
    out
}

/// Splits `CALL[.await][?]` into its parts, or explains why it is not a call.
pub fn classify(expr: Expr) -> syn::Result<Call> {
    // The span of the whole expression, computed before it is taken apart (without cloning
    // or printing it in the usual shapes).
    let span = span_of(&expr);
    let mut inner = expr;
    let mut tried = false;
    let mut awaited = false;
    let mut await_span = None;
    if let Expr::Try(t) = inner {
        tried = true;
        inner = *t.expr;
    }
    if let Expr::Await(a) = inner {
        awaited = true;
        await_span = Some(a.await_token.span);
        inner = *a.base;
    }
    let kind = match inner {
        Expr::MethodCall(m) => CallKind::Method {
            receiver: m.receiver,
            method: m.method,
            turbofish: m.turbofish,
            args: punctuated_vec(m.args),
        },
        Expr::Call(c) => match *c.func {
            Expr::Path(_) => CallKind::Path {
                func: c.func,
                args: punctuated_vec(c.args),
            },
            other => {
                return Err(form_error(
                    other.span(),
                    "the function of an enqueued call must be a path (`send_welcome(id)`, \
                     `Mailer::send(m, id)`); bind other callees to a variable first",
                ));
            }
        },
        other => return Err(not_a_call(&other, tried, awaited)),
    };
    Ok(Call {
        kind,
        awaited,
        tried,
        span,
        await_span,
    })
}

/// True for expressions that name a place (`mailer`, `self.mailer`, `*m`): a receiver that is
/// one is cloned into the hook, not moved. The expansion and the loop-borrow check both ask.
pub fn is_place(expr: &Expr) -> bool {
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
pub fn span_of(expr: &Expr) -> Span {
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

fn punctuated_vec(args: Punctuated<Expr, Token![,]>) -> Vec<Expr> {
    args.into_iter().collect()
}

fn not_a_call(expr: &Expr, tried: bool, awaited: bool) -> syn::Error {
    let what = match expr {
        Expr::Block(_) | Expr::Unsafe(_) => "a block",
        Expr::Closure(_) => "a closure",
        Expr::Async(_) => "an async block",
        Expr::Lit(_) => "a literal",
        Expr::Field(_) => "a field access",
        Expr::Path(_) => "a bare path",
        Expr::Macro(_) => "a macro call",
        Expr::Try(_) => "`?` before `.await` (write `CALL.await?`)",
        Expr::Await(_) => "a doubled `.await`",
        Expr::Reference(_) => "a reference",
        Expr::Binary(_) | Expr::Unary(_) => "an operator expression",
        Expr::If(_) | Expr::Match(_) => "a branch",
        Expr::Struct(_) | Expr::Tuple(_) | Expr::Array(_) => "a value",
        _ => "an expression that is not a call",
    };
    let suffix = match (awaited, tried) {
        _ if matches!(expr, Expr::Try(_)) => "",
        (true, true) => " (before `.await?`)",
        (true, false) => " (before `.await`)",
        (false, true) => " (before `?`)",
        (false, false) => "",
    };
    form_error(
        expr.span(),
        &format!("`enqueue!` defers a call, found {what}{suffix}"),
    )
}

/// Source text of a token stream, with the whitespace rustfmt would use for a call:
/// `mailer.send(id, &name)`, `queue.push(Job { id }).await?`.
pub fn source_text(tokens: TokenStream) -> String {
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
                    '<' if prev_path_sep => {
                        out.push(c);
                        angle_depth += 1;
                        prev_glue = true;
                    }
                    '>' if angle_depth > 0 && !joint => {
                        out.push(c);
                        angle_depth -= 1;
                        prev_glue = false;
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
    use quote::quote;

    fn ok(tokens: TokenStream) -> EnqueueInput {
        match parse(tokens) {
            Ok(input) => input,
            Err(e) => panic!("parse failed: {e}"),
        }
    }

    fn err(tokens: TokenStream) -> String {
        match parse(tokens) {
            Ok(input) => panic!("parsed: {input:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn method_call() {
        let input = ok(quote!(mailer.send(id, &name)));
        assert!(input.conn.is_none());
        assert!(!input.robust);
        assert!(!input.call.awaited && !input.call.tried);
        assert_eq!(input.call.captured().len(), 3);
        assert_eq!(input.text, "mailer.send(id, &name)");
    }

    #[test]
    fn path_call_with_conn_await_try_robust() {
        let input = ok(quote!(conn => jobs::push::<Job>(Job { id }, 3).await?, robust));
        assert!(input.conn.is_some());
        assert!(input.robust);
        assert!(input.call.awaited && input.call.tried);
        assert_eq!(input.call.captured().len(), 2);
        assert_eq!(input.text, "jobs::push::<Job>(Job { id }, 3).await?");
    }

    #[test]
    fn rejected_forms() {
        assert!(err(quote!({ send(id) })).contains("found a block"));
        assert!(err(quote!(|| send(id))).contains("found a closure"));
        assert!(err(quote!(42)).contains("found a literal"));
        assert!(err(quote!(user.email)).contains("found a field access"));
        assert!(err(quote!(send(id), fast)).contains("unknown `enqueue!` option `fast`"));
        assert!(err(quote!(send(id)?.await)).contains("`?` before `.await`"));
        assert!(err(quote!()).contains("needs a call"));
        assert!(err(quote!(conn =>)).contains("missing the call"));
        assert!(err(quote!(x)).contains(ACCEPTED_FORMS));
    }
}
#[cfg(test)]
mod text_tests {
    use super::source_text;
    use quote::quote;

    #[test]
    fn call_text() {
        let cases = [
            (
                quote!(f(move || format!("x {}", y), &mut z, !flag, a - b, -1)),
                "f(move || format!(\"x {}\", y), &mut z, !flag, a - b, -1)",
            ),
            (
                quote!(x.m(n as u64, Some(v), vec![1, 2], [a; 3])),
                "x.m(n as u64, Some(v), vec![1, 2], [a; 3])",
            ),
            (
                quote!(Job::<'static, T>::new(Job { id: 1, ..d })),
                "Job::<'static, T>::new(Job { id: 1, ..d })",
            ),
            (
                quote!(q.push(*x, &self.a[i]).await?),
                "q.push(*x, &self.a[i]).await?",
            ),
            (quote!(f(a == b, |a, b| a + b)), "f(a == b, |a, b| a + b)"),
        ];
        for (tokens, text) in cases {
            assert_eq!(source_text(tokens), text);
        }
    }
}
