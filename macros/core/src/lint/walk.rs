//! The body walk: visits an `#[atomic]` body in binding order with real scopes, tracks
//! which bindings are loop variables, and checks every `enqueue!` it meets.
//!
//! syn's default visitor order is not binding order, so the walk is written out: a `for`
//! visits its iterator expression before binding its pattern for the body only; `if let` /
//! `while let` bind for the branch / body only; `let` binds after its initializer and its
//! `else` block; match arms bind per arm; closures bind their parameters for their body;
//! nested items are skipped. `enqueue!` is found as a statement, as an expression, and
//! inside other macros' tokens when those parse as expressions (`vec![..]`, `format!`
//! arguments) or statements.

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprClosure, Pat, Stmt, Token};

use super::Finding;
use super::methods;
use super::scope::{Binding, Scopes};
use super::value::{Val, ref_binding};
use crate::syntax::{Sites, is_enqueue, mentions_enqueue, strip_parens};

/// An outside binding mentioned inside a closure or `async` block: where, which binding,
/// and the fields after it (`pair.0` mentions `pair` with `[0]`): edition 2021 closures
/// capture that place, not the whole binding.
#[derive(Clone)]
pub(crate) struct Mention {
    pub(crate) tokens: TokenStream,
    pub(crate) binding: Binding,
    pub(crate) fields: Vec<syn::Member>,
    /// The place is certainly borrowed there; otherwise it may be moved or copied (`f(x)`:
    /// a non-`move` closure captures a non-`Copy` `x` by value, a `Copy` one by reference).
    pub(crate) borrowed: bool,
}

/// Collects the outside bindings mentioned inside a closure or `async` block.
struct MentionFrame {
    /// Scopes at an index below this were opened outside the closure.
    boundary: usize,
    found: Vec<Mention>,
}

/// The walker's state: scopes, how deep in loops the current point is, and what was found.
pub(crate) struct Walker<'body> {
    pub(crate) scopes: Scopes,
    loop_depth: usize,
    /// Non-zero while walking only for bindings or mentions: `enqueue!` is not checked then
    /// (the main walk checks it, once).
    quiet: usize,
    /// Non-zero while walking a `while` condition: a `ref` binding there borrows the
    /// iteration's own value.
    loop_pattern: usize,
    mentions: Vec<MentionFrame>,
    findings: Vec<Finding>,
    /// Non-zero while walking syntax parsed from another macro's tokens (not the body's own
    /// tree): `enqueue!` inputs parsed there are not recorded in `parsed`.
    in_tokens: usize,
    /// Set just before walking an operand that is certainly borrowed, not moved or copied
    /// (`&x`, the receiver of a `&self` method, a comparison's side, an indexed base): a
    /// non-`move` closure then captures the place it names by reference.
    borrowed_operand: bool,
    /// The body's own `enqueue!` sites, and the inputs parsed for them, for the rewrite.
    parsed: Sites<'body>,
}

impl<'body> Walker<'body> {
    /// A walker for `body` (whose `enqueue!` sites it records parsed inputs for).
    pub(crate) fn new(body: &'body syn::Block) -> Self {
        Self {
            scopes: Scopes::new(),
            loop_depth: 0,
            quiet: 0,
            loop_pattern: 0,
            mentions: Vec::new(),
            findings: Vec::new(),
            in_tokens: 0,
            borrowed_operand: false,
            parsed: Sites::of(body),
        }
    }

    /// Binds the fn's parameters that hold `'static` data (see [`super::static_params`]),
    /// outside the body.
    pub(crate) fn static_params(&mut self, names: &[String]) {
        for name in names {
            self.scopes.bind(Binding {
                name: name.clone(),
                loop_var: false,
                held: Val::Owned,
                static_data: true,
            });
        }
    }

    /// Walks a function body.
    pub(crate) fn fn_body(&mut self, body: &syn::Block) {
        self.block(body);
    }

    /// What was found, in source order of the `enqueue!`s.
    #[cfg(test)]
    pub(crate) fn into_findings(self) -> Vec<Finding> {
        self.findings
    }

    /// What was found, and the `enqueue!` inputs parsed on the way.
    pub(crate) fn into_findings_and_parsed(self) -> (Vec<Finding>, crate::syntax::Parsed) {
        (self.findings, self.parsed.into_parsed())
    }

    /// Runs `f` without checking `enqueue!`s (used to replay bindings).
    pub(crate) fn quietly(&mut self, f: impl FnOnce(&mut Self)) {
        self.quiet += 1;
        f(self);
        self.quiet -= 1;
    }

    /// Runs `f` (which opens the closure's own scopes) and returns the bindings from
    /// outside that it mentions, in order.
    pub(crate) fn mentions_in(&mut self, f: impl FnOnce(&mut Self)) -> Vec<Mention> {
        self.mentions.push(MentionFrame {
            boundary: self.scopes.depth(),
            found: Vec::new(),
        });
        self.quietly(f);
        self.mentions
            .pop()
            .map(|frame| frame.found)
            .unwrap_or_default()
    }

    /// The value a pattern is bound to. While collecting a closure's mentions only the
    /// names matter (for shadowing), so the value is not computed: this keeps nested
    /// closures linear instead of re-evaluating each level from every enclosing one.
    fn binding_value(&mut self, expr: &Expr) -> Val {
        if self.mentions.is_empty() {
            self.value(expr)
        } else {
            Val::Owned
        }
    }

    fn mention(&mut self, name: &str, borrowed: bool, tokens: impl FnOnce() -> TokenStream) {
        self.mention_fields(name, Vec::new(), borrowed, tokens);
    }

    /// A mention of `name` followed by `fields` (`pair.0.id`).
    fn mention_fields(
        &mut self,
        name: &str,
        fields: Vec<syn::Member>,
        borrowed: bool,
        tokens: impl FnOnce() -> TokenStream,
    ) {
        if self.mentions.is_empty() {
            return;
        }
        let Some((depth, binding)) = self.scopes.lookup(name) else {
            return;
        };
        let binding = binding.clone();
        let tokens = tokens();
        for frame in &mut self.mentions {
            if depth < frame.boundary {
                frame.found.push(Mention {
                    tokens: tokens.clone(),
                    binding: binding.clone(),
                    fields: fields.clone(),
                    borrowed,
                });
            }
        }
    }

    pub(crate) fn block(&mut self, block: &syn::Block) {
        self.scopes.push();
        for stmt in &block.stmts {
            self.stmt(stmt);
        }
        self.scopes.pop();
    }

    pub(crate) fn stmt(&mut self, stmt: &Stmt) {
        match stmt {
            Stmt::Local(local) => {
                let val = match &local.init {
                    Some(init) => {
                        self.expr(&init.expr);
                        if let Some((_, diverge)) = &init.diverge {
                            self.expr(diverge);
                        }
                        self.binding_value(&init.expr)
                    }
                    None => Val::Owned,
                };
                let loop_var = self.loop_depth > 0;
                self.bind_pat(&local.pat, val, loop_var, false);
                if let (Some(init), Pat::Ident(p)) = (&local.init, strip_pat_type(&local.pat))
                    && self.static_source(&init.expr)
                {
                    self.scopes.mark_static(&p.ident.to_string());
                }
            }
            Stmt::Item(_) => {}
            Stmt::Expr(expr, _) => self.expr(expr),
            Stmt::Macro(m) => self.mac(&m.mac),
        }
    }

    /// Binds every name of `pat`, matched against a value `val`. `loop_item`: the pattern
    /// binds a loop's item (`for`, `while let`, adapter closure), so a `ref` binding in it
    /// borrows the iteration's own value.
    pub(crate) fn bind_pat(&mut self, pat: &Pat, val: Val, loop_var: bool, loop_item: bool) {
        match pat {
            Pat::Ident(p) => {
                if let Some((_, sub)) = &p.subpat {
                    self.bind_pat(sub, val.clone(), loop_var, loop_item);
                }
                let name = p.ident.to_string();
                // `None`, `Ordering::Less`-style unit variants and consts parse as idents.
                if p.subpat.is_none()
                    && p.by_ref.is_none()
                    && p.mutability.is_none()
                    && name.starts_with(|c: char| c.is_ascii_uppercase())
                {
                    return;
                }
                let held = if p.by_ref.is_some() {
                    ref_binding(val, &p.ident, loop_item)
                } else {
                    val.held()
                };
                self.scopes.bind(Binding {
                    name,
                    loop_var,
                    held,
                    static_data: false,
                });
            }
            Pat::Reference(p) => {
                let inner = match val {
                    Val::Borrow(found) => Val::Place(super::value::Place::Through(found)),
                    other => other,
                };
                self.bind_pat(&p.pat, inner, loop_var, false);
            }
            Pat::Tuple(p) => self.bind_elems(p.elems.iter(), val, loop_var, loop_item),
            Pat::TupleStruct(p) => self.bind_elems(p.elems.iter(), val, loop_var, loop_item),
            Pat::Slice(p) => {
                for elem in &p.elems {
                    self.bind_pat(elem, val.clone(), loop_var, loop_item);
                }
            }
            Pat::Struct(p) => {
                for field in &p.fields {
                    // Against a struct literal's value, each field pattern gets its field
                    // (`Owned` when the literal does not show it); against anything else
                    // (a place, a borrow), all of the value.
                    let field_val = match &val {
                        Val::Many(_) => val.clone().element(&field.member),
                        other => other.clone(),
                    };
                    self.bind_pat(&field.pat, field_val, loop_var, loop_item);
                }
            }
            Pat::Or(p) => {
                for case in &p.cases {
                    self.bind_pat(case, val.clone(), loop_var, loop_item);
                }
            }
            Pat::Paren(p) => self.bind_pat(&p.pat, val, loop_var, loop_item),
            Pat::Type(p) => self.bind_pat(&p.pat, val, loop_var, loop_item),
            Pat::Guard(p) => {
                self.bind_pat(&p.pat, val, loop_var, loop_item);
                self.expr(&p.guard);
            }
            _ => {}
        }
    }

    /// Tuple-like patterns: element by element when the value is a tuple of the same arity
    /// (`let (a, b) = (&x, 1);`, `for (i, u) in x.iter().enumerate()`), with a `..` taking
    /// the elements it skips (`let (id, ..) = (x.id, &x.email, 1)`), else all of it.
    fn bind_elems<'a>(
        &mut self,
        elems: impl ExactSizeIterator<Item = &'a Pat>,
        val: Val,
        loop_var: bool,
        loop_item: bool,
    ) {
        let elems: Vec<&Pat> = elems.collect();
        let rest = elems.iter().position(|p| matches!(p, Pat::Rest(_)));
        match val {
            Val::Many(vals) if rest.is_none() && vals.len() == elems.len() => {
                for (pat, val) in elems.into_iter().zip(vals) {
                    self.bind_pat(pat, val, loop_var, loop_item);
                }
            }
            Val::Many(mut vals) if rest.is_some() && vals.len() + 1 >= elems.len() => {
                let rest = rest.unwrap_or_default();
                let after = elems.len() - rest - 1;
                let tail = vals.split_off(vals.len() - after);
                vals.truncate(rest);
                for (pat, val) in elems[..rest].iter().zip(vals) {
                    self.bind_pat(pat, val, loop_var, loop_item);
                }
                for (pat, val) in elems[rest + 1..].iter().zip(tail) {
                    self.bind_pat(pat, val, loop_var, loop_item);
                }
            }
            other => {
                for pat in elems {
                    self.bind_pat(pat, other.clone(), loop_var, loop_item);
                }
            }
        }
    }

    /// A match arm's pattern (with its guard) against the scrutinee's value.
    pub(crate) fn arm_pattern(&mut self, pat: &Pat, scrutinee: Val) {
        let loop_var = self.loop_depth > 0;
        self.bind_pat(pat, scrutinee, loop_var, false);
    }

    /// A closure; `adapter` is `Some((items, accumulating))` when it is passed to an
    /// iterator adapter, whose items are its parameters' values.
    fn closure(&mut self, closure: &ExprClosure, adapter: Option<(Val, bool)>) {
        self.scopes.push();
        let outer_depth = self.loop_depth;
        if adapter.is_some() {
            self.loop_depth += 1;
        }
        let loop_var = self.loop_depth > 0;
        for (i, input) in closure.inputs.iter().enumerate() {
            let val = match &adapter {
                Some((_, true)) if i == 0 => Val::Owned,
                Some((items, _)) => items.clone(),
                None => Val::Owned,
            };
            self.bind_pat(input, val, loop_var, adapter.is_some());
        }
        self.expr(&closure.body);
        self.loop_depth = outer_depth;
        self.scopes.pop();
    }

    fn loop_body(&mut self, f: impl FnOnce(&mut Self)) {
        self.loop_depth += 1;
        f(self);
        self.loop_depth -= 1;
    }

    /// Walks `expr` as an operand that is certainly borrowed (see `borrowed_operand`).
    /// An operand of arithmetic with a number literal (`u.id + 1`): borrowed when the
    /// variable it starts from holds a reference to a loop variable's data (a `Copy` number
    /// read through it is captured by reference, and a non-`Copy` one cannot be moved out of
    /// it); otherwise a value, which a non-`Copy` type with its own `Add<i32>` moves.
    fn borrowed_through_reference(&mut self, expr: &Expr) {
        let through_reference = field_chain(expr).is_some_and(|(ident, _)| {
            self.scopes
                .lookup(&ident.to_string())
                .is_some_and(|(_, binding)| !binding.held.findings().is_empty())
        });
        if through_reference {
            self.borrowed(expr);
        } else {
            self.expr(expr);
        }
    }

    fn borrowed(&mut self, expr: &Expr) {
        self.borrowed_operand = true;
        self.expr(expr);
        self.borrowed_operand = false;
    }

    pub(crate) fn expr(&mut self, expr: &Expr) {
        // Only the place expression right under a borrowing operator is borrowed; anything
        // nested deeper (`&f(x)`) is walked without it.
        let borrowed = std::mem::take(&mut self.borrowed_operand);
        match expr {
            Expr::Array(e) => e.elems.iter().for_each(|e| self.expr(e)),
            Expr::Assign(e) => {
                self.expr(&e.left);
                self.expr(&e.right);
                // `to = &x.email;`: a variable has one type, so once it is given a borrow of
                // a loop variable, capturing it anywhere after needs that borrow to outlive
                // the hook (what it held before is kept too).
                // (Once: a value's block replayed for its bindings does not assign again.)
                if self.quiet == 0
                    && let Expr::Path(path) = strip_parens(&e.left)
                    && let Some(ident) = path.path.get_ident()
                {
                    let val = self.binding_value(&e.right).held();
                    self.scopes.hold_too(&ident.to_string(), val);
                }
            }
            Expr::Async(e) => self.block(&e.block),
            Expr::Await(e) => self.expr(&e.base),
            Expr::Binary(e) => {
                // `let` chains bind left to right into the enclosing `if`/`while` scope.
                match operands(e) {
                    Operands::Borrowed => {
                        self.borrowed(&e.left);
                        self.borrowed(&e.right);
                    }
                    Operands::Arithmetic => {
                        self.borrowed_through_reference(&e.left);
                        self.borrowed_through_reference(&e.right);
                    }
                    Operands::Values => {
                        self.expr(&e.left);
                        self.expr(&e.right);
                    }
                }
            }
            Expr::Block(e) => self.block(&e.block),
            Expr::Break(e) => e.expr.iter().for_each(|e| self.expr(e)),
            Expr::Call(e) => {
                self.expr(&e.func);
                e.args.iter().for_each(|e| self.expr(e));
            }
            Expr::Cast(e) => self.expr(&e.expr),
            Expr::Closure(e) => self.closure(e, None),
            Expr::Const(e) => self.block(&e.block),
            Expr::Field(e) => {
                // Inside a closure, `pair.0` is a mention of that field.
                if !self.mentions.is_empty()
                    && let Some((ident, fields)) = field_chain(expr)
                {
                    self.mention_fields(&ident.to_string(), fields, borrowed, || {
                        expr.to_token_stream()
                    });
                } else {
                    self.expr(&e.base);
                }
            }
            Expr::ForLoop(e) => {
                self.expr(&e.expr);
                let items = self.binding_value(&e.expr).items();
                // Items of 'static data (`["ann", "bob"]`, `NAMES.iter()`, `TEXT.lines()`)
                // borrow nothing of the iteration: what their methods return outlives it.
                let loop_var = !self.static_source(&e.expr);
                self.scopes.push();
                self.loop_body(|w| {
                    w.bind_pat(&e.pat, items, loop_var, true);
                    w.block(&e.body);
                });
                self.scopes.pop();
            }
            Expr::Group(e) => self.expr(&e.expr),
            Expr::If(e) => {
                self.scopes.push();
                self.expr(&e.cond);
                self.block(&e.then_branch);
                self.scopes.pop();
                if let Some((_, otherwise)) = &e.else_branch {
                    self.expr(otherwise);
                }
            }
            Expr::Index(e) => {
                self.borrowed(&e.expr);
                self.expr(&e.index);
            }
            Expr::Let(e) => {
                self.expr(&e.expr);
                let val = self.binding_value(&e.expr);
                // `while let Some(name) = NAMES.pop()` over `'static` data: as in a `for`.
                let loop_var =
                    self.loop_depth > 0 && !(self.loop_pattern > 0 && self.static_source(&e.expr));
                let loop_item = self.loop_pattern > 0;
                self.bind_pat(&e.pat, val, loop_var, loop_item);
            }
            Expr::Loop(e) => self.loop_body(|w| w.block(&e.body)),
            Expr::Macro(e) => self.mac(&e.mac),
            Expr::Match(e) => {
                self.expr(&e.expr);
                let scrutinee = self.binding_value(&e.expr);
                for arm in &e.arms {
                    self.scopes.push();
                    self.arm_pattern(&arm.pat, scrutinee.clone());
                    self.expr(&arm.body);
                    self.scopes.pop();
                }
            }
            Expr::MethodCall(e) => {
                let method = e.method.to_string();
                if methods::takes_ref(&method) {
                    self.borrowed(&e.receiver);
                } else {
                    self.expr(&e.receiver);
                }
                // `refs.push(&x)` is left to rustc: `path.push(&dir)` on a `PathBuf` copies.
                if methods::adapter(&method) {
                    let items = self.binding_value(&e.receiver).items();
                    let accumulating = methods::accumulating(&method);
                    for arg in &e.args {
                        match strip_parens(arg) {
                            Expr::Closure(c) => {
                                self.closure(c, Some((items.clone(), accumulating)))
                            }
                            other => self.expr(other),
                        }
                    }
                } else {
                    e.args.iter().for_each(|e| self.expr(e));
                }
            }
            Expr::Paren(e) => {
                self.borrowed_operand = borrowed;
                self.expr(&e.expr);
                self.borrowed_operand = false;
            }
            Expr::Path(e) => {
                if !self.mentions.is_empty()
                    && e.qself.is_none()
                    && let Some(ident) = e.path.get_ident()
                {
                    self.mention(&ident.to_string(), borrowed, || ident.to_token_stream());
                }
            }
            Expr::Range(e) => {
                e.start.iter().for_each(|e| self.expr(e));
                e.end.iter().for_each(|e| self.expr(e));
            }
            Expr::RawAddr(e) => self.expr(&e.expr),
            Expr::Reference(e) => self.borrowed(&e.expr),
            Expr::Repeat(e) => {
                self.expr(&e.expr);
                self.expr(&e.len);
            }
            Expr::Return(e) => e.expr.iter().for_each(|e| self.expr(e)),
            Expr::Struct(e) => {
                e.fields.iter().for_each(|f| self.expr(&f.expr));
                e.rest.iter().for_each(|e| self.expr(e));
            }
            Expr::Try(e) => self.expr(&e.expr),
            Expr::TryBlock(e) => self.block(&e.block),
            Expr::Tuple(e) => e.elems.iter().for_each(|e| self.expr(e)),
            Expr::Unary(e) => self.expr(&e.expr),
            Expr::Unsafe(e) => self.block(&e.block),
            Expr::While(e) => {
                self.scopes.push();
                self.loop_body(|w| {
                    w.loop_pattern += 1;
                    w.expr(&e.cond);
                    w.loop_pattern -= 1;
                    w.block(&e.body);
                });
                self.scopes.pop();
            }
            Expr::Yield(e) => e.expr.iter().for_each(|e| self.expr(e)),
            _ => {}
        }
    }

    /// A macro call: checks `enqueue!`, and looks for `enqueue!`s (and mentions) in the
    /// tokens of other macros.
    pub(crate) fn mac(&mut self, mac: &syn::Macro) {
        if !self.mentions.is_empty() {
            // Formatting macros take their arguments by reference; what other macros do
            // with a name is not known.
            let name = mac.path.segments.last().map(|s| s.ident.to_string());
            let formats = name.as_deref().is_some_and(methods::formats);
            if !(formats
                && self.format_args(
                    mac,
                    matches!(name.as_deref(), Some("assert" | "debug_assert")),
                ))
            {
                self.mention_tokens(mac.tokens.clone(), false);
            }
        }
        if is_enqueue(mac) {
            if self.quiet == 0
                && let Ok(input) = crate::enqueue::parse(mac.tokens.clone())
            {
                self.check_enqueue(&input);
                if self.in_tokens == 0 {
                    self.parsed.insert(mac, input);
                }
            }
            return;
        }
        // Walking another macro's arguments can only find `enqueue!`s, mentions (while
        // collecting a closure's), and the bindings of a `let` expression: without any of
        // those, parsing them would change nothing.
        if self.mentions.is_empty() && !mentions_enqueue(mac.tokens.clone(), true) {
            return;
        }
        self.in_tokens += 1;
        self.macro_args(mac);
        self.in_tokens -= 1;
    }

    /// The `enqueue!` check proper: the borrows of loop variables its captured values hold.
    /// A durable job (`enqueue!(outbox => JOB)`) captures nothing: it is serialized at the
    /// `enqueue!`, so it may borrow a loop variable.
    fn check_enqueue(&mut self, input: &crate::enqueue::EnqueueInput) {
        let Some(call) = input.call() else {
            return;
        };
        let receiver = match &call.kind {
            crate::enqueue::CallKind::Method { receiver, .. } => Some(&**receiver),
            crate::enqueue::CallKind::Path { .. } => None,
        };
        for captured in call.captured() {
            let val = self.value(captured);
            let is_receiver = receiver.is_some_and(|r| std::ptr::eq(r, captured));
            // The expansion clones a place receiver (`u.send()`, `self.mailer`) to the type
            // behind its references: one level of borrow is cloned away.
            // A `&str` or `&[T]` cannot be cloned to what is behind it: that receiver is
            // reported like an argument.
            let unsized_borrow = matches!(&val, Val::Borrow(found)
                if found.iter().any(|f| f.shape == super::Shape::UnsizedRef));
            if is_receiver
                && crate::syntax::is_place(captured)
                && matches!(val, Val::Owned | Val::Place(_) | Val::Borrow(_))
                && !unsized_borrow
            {
                continue;
            }
            self.findings.extend(val.findings());
        }
    }

    /// The arguments of a macro other than `enqueue!`, when they parse as expressions
    /// (`vec![..]`, `format!(..)`), `[elem; len]` or statements.
    fn macro_args(&mut self, mac: &syn::Macro) {
        if let Ok(exprs) = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) {
            exprs.iter().for_each(|e| self.expr(e));
        } else if let Ok((elem, len)) = mac.parse_body_with(|input: syn::parse::ParseStream| {
            let elem: Expr = input.parse()?;
            input.parse::<Token![;]>()?;
            let len: Expr = input.parse()?;
            Ok((elem, len))
        }) {
            self.expr(&elem);
            self.expr(&len);
        } else if let Ok(stmts) = mac.parse_body_with(syn::Block::parse_within) {
            self.scopes.push();
            stmts.iter().for_each(|s| self.stmt(s));
            self.scopes.pop();
        }
    }

    /// A formatting macro's arguments, when they parse: each one that is a place
    /// (`x`, `x.name`, `x[0]`) is taken by reference, and so is each `{name}` of a string
    /// literal; other arguments are values computed first (`x + 1` may move `x`), walked as
    /// any expression by [`Walker::macro_args`]. `assert!`'s condition is a value too.
    /// False when they do not parse.
    fn format_args(&mut self, mac: &syn::Macro, condition_first: bool) -> bool {
        let Ok(args) = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) else {
            return false;
        };
        for (i, arg) in args.iter().enumerate() {
            if condition_first && i == 0 {
                continue;
            }
            let arg = match strip_parens(arg) {
                Expr::Assign(named) => strip_parens(&named.right),
                other => other,
            };
            match arg {
                Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(lit),
                    ..
                }) => {
                    for name in inline_format_args(&lit.token().to_string()) {
                        self.mention(&name, true, || lit.to_token_stream());
                    }
                }
                Expr::Path(_) | Expr::Field(_) | Expr::Index(_) => self.borrowed(arg),
                _ => {}
            }
        }
        true
    }

    /// Records every name in raw macro tokens (and `{name}` in format strings) that resolves
    /// outside the closure being examined, as `borrowed` (a formatting macro) or not.
    fn mention_tokens(&mut self, tokens: TokenStream, borrowed: bool) {
        // After `.` (a field or method) or `::` (a path segment) an ident is not a variable.
        let mut not_a_variable = false;
        let mut joint_colon = false;
        for tt in tokens {
            match tt {
                TokenTree::Ident(ident) => {
                    if !not_a_variable {
                        self.mention(&ident.to_string(), borrowed, || ident.to_token_stream());
                    }
                    not_a_variable = false;
                    joint_colon = false;
                }
                TokenTree::Group(group) => {
                    // Inside a call's parentheses (`format!("{}", f(x))`) an argument may be moved.
                    self.mention_tokens(group.stream(), false);
                    not_a_variable = false;
                    joint_colon = false;
                }
                TokenTree::Punct(punct) => {
                    let c = punct.as_char();
                    not_a_variable = c == '.' || (c == ':' && joint_colon);
                    joint_colon = c == ':' && punct.spacing() == proc_macro2::Spacing::Joint;
                }
                TokenTree::Literal(lit) => {
                    not_a_variable = false;
                    joint_colon = false;
                    let text = lit.to_string();
                    if text.starts_with('"') || text.starts_with('r') {
                        for name in inline_format_args(&text) {
                            self.mention(&name, borrowed, || lit.to_token_stream());
                        }
                    }
                }
            }
        }
    }
}

/// How a binary operator uses its operands.
enum Operands {
    /// A comparison: both sides by reference.
    Borrowed,
    /// Arithmetic with a number literal (`x + 1`, `x * 2`): by value, which borrows a `Copy`
    /// number when a closure captures it, and moves a value of another type.
    Arithmetic,
    /// By value, types unknown.
    Values,
}

fn operands(e: &syn::ExprBinary) -> Operands {
    use syn::BinOp;
    let number = |e: &Expr| {
        matches!(
            strip_parens(e),
            Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(_) | syn::Lit::Float(_),
                ..
            })
        )
    };
    match e.op {
        BinOp::Eq(_) | BinOp::Ne(_) | BinOp::Lt(_) | BinOp::Le(_) | BinOp::Gt(_) | BinOp::Ge(_) => {
            Operands::Borrowed
        }
        BinOp::Add(_)
        | BinOp::Sub(_)
        | BinOp::Mul(_)
        | BinOp::Div(_)
        | BinOp::Rem(_)
        | BinOp::BitAnd(_)
        | BinOp::BitOr(_)
        | BinOp::BitXor(_)
        | BinOp::Shl(_)
        | BinOp::Shr(_)
            if number(&e.left) || number(&e.right) =>
        {
            Operands::Arithmetic
        }
        _ => Operands::Values,
    }
}

/// `pair.0.id`: the variable at the bottom of a chain of field accesses, and the fields.
fn field_chain(expr: &Expr) -> Option<(&syn::Ident, Vec<syn::Member>)> {
    match expr {
        Expr::Field(f) => {
            let (ident, mut fields) = field_chain(&f.base)?;
            fields.push(f.member.clone());
            Some((ident, fields))
        }
        Expr::Path(p) if p.qself.is_none() => p.path.get_ident().map(|i| (i, Vec::new())),
        Expr::Paren(p) => field_chain(&p.expr),
        _ => None,
    }
}

/// The names in `{name}` / `{name:?}` of a string literal's source text.
fn inline_format_args(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '{' {
            continue;
        }
        if chars.peek() == Some(&'{') {
            chars.next();
            continue;
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_alphanumeric() || c == '_' {
                name.push(c);
                chars.next();
            } else {
                break;
            }
        }
        let ends = matches!(chars.peek(), Some('}') | Some(':'));
        if ends && name.starts_with(|c: char| c.is_alphabetic() || c == '_') {
            names.push(name);
        }
    }
    names
}

/// `let x: T = ..`: the pattern without its type.
fn strip_pat_type(pat: &Pat) -> &Pat {
    match pat {
        Pat::Type(p) => strip_pat_type(&p.pat),
        other => other,
    }
}

impl Walker<'_> {
    /// An iterated expression whose items are or point into `'static` data: an array or
    /// `vec!` of literals, a `const`/`static` item (a `SCREAMING_CASE` path), a string
    /// literal, a binding of one of those, or a method chain on one of them (`NAMES.iter()`,
    /// `TEXT.lines()`, `names.pop()`). The check stays silent about such loop variables: a
    /// method on one (`name.trim()`) borrows the `'static` data, which rustc accepts; a
    /// borrow of the variable itself (`&name`) is left to rustc.
    fn static_source(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Paren(e) => self.static_source(&e.expr),
            Expr::Group(e) => self.static_source(&e.expr),
            Expr::Reference(e) => self.static_source(&e.expr),
            Expr::Lit(_) => true,
            Expr::Array(e) => e.elems.iter().all(|elem| matches!(elem, Expr::Lit(_))),
            Expr::Macro(e) => {
                e.mac.path.segments.last().is_some_and(|s| s.ident == "vec")
                    && e.mac
                        .parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated)
                        .is_ok_and(|elems| elems.iter().all(|e| matches!(e, Expr::Lit(_))))
            }
            Expr::Path(e) => {
                if e.qself.is_some() {
                    return false;
                }
                if let Some(ident) = e.path.get_ident()
                    && let Some((_, binding)) = self.scopes.lookup(&ident.to_string())
                {
                    return binding.static_data;
                }
                e.path.segments.last().is_some_and(|segment| {
                    let name = segment.ident.to_string();
                    name.len() > 1
                        && name.chars().any(|c| c.is_ascii_uppercase())
                        && name
                            .chars()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                })
            }
            Expr::MethodCall(e) => self.static_source(&e.receiver),
            _ => false,
        }
    }
}
