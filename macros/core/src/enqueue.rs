//! Parsing of the `enqueue!` input.
//!
//! Accepted forms (`CALL` is a path call `f(a, b)` or a method call `x.m(a)`, optionally
//! followed by `.await` and then `?`; `JOB` is any expression whose type implements
//! `oncommit::outbox::Job`):
//!
//! ```text
//! enqueue!(CALL)
//! enqueue!(CALL, robust)
//! enqueue!(conn => CALL)
//! enqueue!(conn => CALL, robust)
//! enqueue!(outbox => JOB)
//! enqueue!(conn => outbox => JOB)
//! ```
//!
//! The first four defer a call until after COMMIT (a hook); the last two write a durable job
//! to the outbox table, serialized at the `enqueue!`. `outbox` followed by `=>` always starts
//! the durable form where it can: `enqueue!(outbox => X)` is a durable job even when a
//! connection is named `outbox` (the `#[atomic]` rewrite reports that case as ambiguous), and
//! `enqueue!(outbox => outbox => JOB)` is a durable job on a connection named `outbox`. A
//! durable job takes no options (`robust` is about a hook's failure after COMMIT).

use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{AngleBracketedGenericArguments, Expr, Ident, Token};

use crate::syntax::{source_text, span_of};

/// The accepted forms, quoted in every parse error.
pub const ACCEPTED_FORMS: &str = "accepted forms: `enqueue!(CALL)`, `enqueue!(CALL, robust)`, \
     `enqueue!(conn => CALL)`, `enqueue!(conn => CALL, robust)`, where CALL is a function call \
     `path(args)` or a method call `receiver.method(args)`, optionally followed by `.await` \
     and/or `?`; and for a durable job, `enqueue!(outbox => JOB)`, `enqueue!(conn => outbox => \
     JOB)`, where JOB is a value whose type implements `oncommit::outbox::Job`";

/// A parsed `enqueue!(...)` input.
#[derive(Debug, Clone)]
pub struct EnqueueInput {
    /// The explicit connection of `enqueue!(conn => CALL)` and `enqueue!(conn => outbox =>
    /// JOB)`.
    pub conn: Option<Expr>,
    /// What is enqueued: a call (a hook) or a durable job.
    pub form: Form,
    /// The call's (or the job's) source text as the user wrote it (whitespace normalised),
    /// e.g. `mailer.send(id)`.
    pub text: String,
    /// A span inside the `enqueue!` input (the first token of `CALL`), used for errors and
    /// for the hook's location when the macro's own span is not known.
    pub span: Span,
}

impl EnqueueInput {
    /// The deferred call, unless this is a durable job.
    pub fn call(&self) -> Option<&Call> {
        match &self.form {
            Form::Hook { call, .. } => Some(call),
            Form::Job(_) => None,
        }
    }

    /// The values the `enqueue!` evaluates: a call's receiver and arguments, or the job.
    pub fn values(&self) -> Vec<&Expr> {
        match &self.form {
            Form::Hook { call, .. } => call.captured(),
            Form::Job(job) => vec![&job.expr],
        }
    }
}

/// What an `enqueue!` enqueues.
#[derive(Debug, Clone)]
pub enum Form {
    /// `CALL` (`, robust`): a hook that makes the call after the outermost COMMIT.
    Hook {
        /// The deferred call.
        call: Call,
        /// `enqueue!(CALL, robust)`: failures are logged, never returned.
        robust: bool,
    },
    /// `outbox => JOB`: a durable job, serialized at the `enqueue!` and written to the outbox
    /// table by the transaction.
    Job(OutboxJob),
}

/// The `outbox => JOB` of a durable `enqueue!`.
#[derive(Debug, Clone)]
pub struct OutboxJob {
    /// The `outbox` token (errors about the form, and the generated call, point at it).
    pub outbox: Ident,
    /// The job, evaluated once at the `enqueue!`.
    pub expr: Expr,
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
    parsed.map(|(conn, form, call_tokens, first_span)| EnqueueInput {
        conn,
        form,
        text: source_text(if call_tokens.is_empty() {
            text_tokens
        } else {
            call_tokens
        }),
        span: first_span,
    })
}

fn form_error(span: Span, what: &str) -> syn::Error {
    syn::Error::new(span, format!("{what}; {ACCEPTED_FORMS}"))
}

/// The explicit connection, the form, the call's (or job's) tokens as written (empty when
/// the call is the whole input), and the span of the input's first token.
type Parsed = (Option<Expr>, Form, TokenStream, Span);

/// `outbox =>` comes next.
fn peek_outbox(input: ParseStream) -> bool {
    let fork = input.fork();
    fork.parse::<Ident>().is_ok_and(|ident| ident == "outbox") && fork.peek(Token![=>])
}

fn parse_input(input: ParseStream, empty_span: Span) -> syn::Result<Parsed> {
    if input.is_empty() {
        return Err(form_error(
            empty_span,
            "`enqueue!` needs a call to defer until after COMMIT",
        ));
    }
    // The first token tree's span (a group's whole span), read off the parse buffer.
    let first_span = input.cursor().span();
    if peek_outbox(input) {
        // `outbox => JOB`, or `outbox => outbox => JOB` (a connection named `outbox`).
        let outbox: Ident = input.parse()?;
        input.parse::<Token![=>]>()?;
        if peek_outbox(input) {
            let conn = Expr::Path(syn::ExprPath {
                attrs: Vec::new(),
                qself: None,
                path: outbox.into(),
            });
            let (form, tokens) = parse_job(input)?;
            return Ok((Some(conn), form, tokens, first_span));
        }
        let (form, tokens) = parse_job_after(input, outbox)?;
        return Ok((None, form, tokens, first_span));
    }
    let start = input.fork();
    let first: Expr = input
        .parse()
        .map_err(|e| form_error(e.span(), "`enqueue!` expects a call"))?;
    let (conn, call_expr, call_tokens) = if input.peek(Token![=>]) {
        input.parse::<Token![=>]>()?;
        if peek_outbox(input) {
            let (form, tokens) = parse_job(input)?;
            return Ok((Some(first), form, tokens, first_span));
        }
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
    Ok((conn, Form::Hook { call, robust }, call_tokens, first_span))
}

/// `outbox => JOB` (the input is at `outbox`).
fn parse_job(input: ParseStream) -> syn::Result<(Form, TokenStream)> {
    let outbox: Ident = input.parse()?;
    input.parse::<Token![=>]>()?;
    parse_job_after(input, outbox)
}

/// `JOB`, after `outbox =>`, then the end of the input: a durable job takes no options.
fn parse_job_after(input: ParseStream, outbox: Ident) -> syn::Result<(Form, TokenStream)> {
    if input.is_empty() {
        return Err(form_error(
            input.span(),
            "missing the job after `outbox =>`",
        ));
    }
    let fork = input.fork();
    let expr: Expr = input.parse().map_err(|e| {
        form_error(
            e.span(),
            "`enqueue!` expects a job (a value whose type implements `oncommit::outbox::Job`) \
             after `outbox =>`",
        )
    })?;
    let tokens = tokens_between(&fork, input);
    if input.peek(Token![,]) {
        input.parse::<Token![,]>()?;
        if !input.is_empty() {
            let option: Ident = input.parse().map_err(|e| {
                form_error(
                    e.span(),
                    "unexpected tokens after the job: a durable job takes no options",
                )
            })?;
            if option == "robust" {
                return Err(syn::Error::new(
                    option.span(),
                    "`robust` does not apply to a durable job: `enqueue!(outbox => JOB)` \
                     writes the job with the transaction, so there is no after-commit failure \
                     to log (a job that cannot be serialized is an error at the `enqueue!`, \
                     one that cannot be written fails the COMMIT); remove `, robust`",
                ));
            }
            return Err(form_error(
                option.span(),
                &format!("unknown option `{option}`: a durable job takes no options"),
            ));
        }
    }
    if !input.is_empty() {
        return Err(form_error(
            input.span(),
            "unexpected tokens after the job in `enqueue!`",
        ));
    }
    Ok((Form::Job(OutboxJob { outbox, expr }), tokens))
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

    fn call(input: &EnqueueInput) -> (&Call, bool) {
        match &input.form {
            Form::Hook { call, robust } => (call, *robust),
            Form::Job(job) => panic!("a durable job: {job:?}"),
        }
    }

    fn job(input: &EnqueueInput) -> &OutboxJob {
        match &input.form {
            Form::Job(job) => job,
            Form::Hook { call, .. } => panic!("a call: {call:?}"),
        }
    }

    fn text(expr: &Expr) -> String {
        source_text(quote::ToTokens::to_token_stream(expr))
    }

    #[test]
    fn method_call() {
        let input = ok(quote!(mailer.send(id, &name)));
        assert!(input.conn.is_none());
        let (call, robust) = call(&input);
        assert!(!robust);
        assert!(!call.awaited && !call.tried);
        assert_eq!(call.captured().len(), 3);
        assert_eq!(input.values().len(), 3);
        assert_eq!(input.text, "mailer.send(id, &name)");
    }

    #[test]
    fn path_call_with_conn_await_try_robust() {
        let input = ok(quote!(conn => jobs::push::<Job>(Job { id }, 3).await?, robust));
        assert!(input.conn.is_some());
        let (call, robust) = call(&input);
        assert!(robust);
        assert!(call.awaited && call.tried);
        assert_eq!(call.captured().len(), 2);
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

    #[test]
    fn durable_job() {
        let input = ok(quote!(outbox => Welcome { user_id }));
        assert!(input.conn.is_none());
        assert!(input.call().is_none());
        let job = job(&input);
        assert_eq!(job.outbox, "outbox");
        assert_eq!(text(&job.expr), "Welcome { user_id }");
        assert_eq!(input.text, "Welcome { user_id }");
        assert_eq!(input.values().len(), 1);
        // Any expression is a job: a path, a call that builds one, a reference.
        for tokens in [
            quote!(outbox => job),
            quote!(outbox => Welcome::new(id)),
            quote!(outbox => &job,),
        ] {
            assert!(input_is_job(tokens));
        }
    }

    fn input_is_job(tokens: TokenStream) -> bool {
        matches!(ok(tokens).form, Form::Job(_))
    }

    #[test]
    fn durable_job_with_conn() {
        let input = ok(quote!(&mut *db => outbox => Welcome { user_id: 1 }));
        assert_eq!(text(input.conn.as_ref().unwrap()), "&mut *db");
        assert_eq!(text(&job(&input).expr), "Welcome { user_id: 1 }");
        // A connection named `outbox`: the first `outbox =>` is the connection.
        let input = ok(quote!(outbox => outbox => Welcome { user_id: 1 }));
        assert_eq!(text(input.conn.as_ref().unwrap()), "outbox");
        assert_eq!(text(&job(&input).expr), "Welcome { user_id: 1 }");
        // `outbox =>` first always means the durable form, even before a call.
        let input = ok(quote!(outbox => mailer.send(id)));
        assert!(input.conn.is_none());
        assert_eq!(text(&job(&input).expr), "mailer.send(id)");
        // `outbox` elsewhere is an ordinary name.
        let input = ok(quote!(outbox.send(id)));
        assert_eq!(call(&input).0.captured().len(), 2);
        let input = ok(quote!(conn => outbox.push(job)));
        assert!(input.conn.is_some() && input.call().is_some());
    }

    #[test]
    fn durable_job_errors() {
        let error = parse(quote!(outbox => Welcome { user_id }, robust)).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("`robust` does not apply to a durable job"),
            "{error}"
        );
        let error = err(quote!(conn => outbox => job, robust));
        assert!(error.contains("`robust` does not apply"), "{error}");
        let error = err(quote!(outbox => job, fast));
        assert!(
            error.contains("unknown option `fast`: a durable job takes no options"),
            "{error}"
        );
        assert!(error.contains(ACCEPTED_FORMS), "{error}");
        assert!(err(quote!(outbox =>)).contains("missing the job after `outbox =>`"));
        assert!(err(quote!(conn => outbox =>)).contains("missing the job"));
        assert!(err(quote!(outbox => job job)).contains("unexpected tokens after the job"));
        assert!(err(quote!(outbox => job, 1)).contains("a durable job takes no options"));
    }
}
#[cfg(test)]
mod text_tests {
    use crate::syntax::source_text;
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
