//! What a captured expression's value would hold: the abstract value [`Val`] and the
//! evaluation of an expression to it, given the scopes at the `enqueue!`.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Expr, Member, Stmt, UnOp};

use super::methods;
use super::scope::Binding;
use super::walk::{Mention, Walker};
use super::{Finding, Kind, Shape};
use crate::syntax::source_text;
use crate::syntax::strip_parens;

/// The abstract value of an expression, as far as borrows of loop variables go.
#[derive(Clone, Debug)]
pub(crate) enum Val {
    /// Holds no borrow of a loop variable (a temporary, a call's result, a variable bound
    /// outside every loop, a literal).
    Owned,
    /// A place: a loop variable or a field/element of one, or a place reached through a
    /// reference into one. Moving or copying it out is fine; borrowing it (`&`, autoref of
    /// a borrowing method) is what the check rejects.
    Place(Place),
    /// A reference (or a value containing one) into loop variables.
    Borrow(Vec<Finding>),
    /// An iterator borrowing loop variables, with the value of its items.
    Iter(Vec<Finding>, Box<Val>),
    /// Several values held together: a tuple, array or struct literal (its fields
    /// [`Named`](Val::Named)), a constructor's arguments, the arms of a branch that are not
    /// tuples of one arity.
    Many(Vec<Val>),
    /// A named field of a struct literal, only ever an element of [`Many`](Val::Many).
    Named(String, Box<Val>),
}

/// Where a place lives.
#[derive(Clone, Debug)]
pub(crate) enum Place {
    /// In the loop variable of this name (owned by the iteration).
    Var(String),
    /// Behind these borrows of loop variables (`y.field` with `let y = &x;`).
    Through(Vec<Finding>),
}

impl Val {
    /// Every borrow of a loop variable the value holds.
    pub(crate) fn findings(&self) -> Vec<Finding> {
        let mut out = Vec::new();
        self.collect_findings(&mut out);
        out
    }

    fn collect_findings(&self, out: &mut Vec<Finding>) {
        match self {
            Val::Owned | Val::Place(_) => {}
            Val::Borrow(found) | Val::Iter(found, _) => out.extend(found.iter().cloned()),
            Val::Many(vals) => vals.iter().for_each(|val| val.collect_findings(out)),
            Val::Named(_, val) => val.collect_findings(out),
        }
    }

    /// The value of one element of a tuple, array or struct literal: `.0`, `[0]`, `.name`.
    /// An element the value does not show (a field of a struct value that was not a
    /// literal here) is `Owned`: unknown, so the check stays silent about it.
    pub(crate) fn element(self, member: &Member) -> Val {
        let Val::Many(vals) = self else {
            return Val::Owned;
        };
        match member {
            Member::Named(name) => vals
                .into_iter()
                .find_map(|val| match val {
                    Val::Named(field, val) if *name == field => Some(*val),
                    _ => None,
                })
                .unwrap_or(Val::Owned),
            Member::Unnamed(index) => vals
                .into_iter()
                .nth(index.index as usize)
                .map(Val::unnamed)
                .unwrap_or(Val::Owned),
        }
    }

    /// The value itself, without a field's name.
    fn unnamed(self) -> Val {
        match self {
            Val::Named(_, val) => *val,
            other => other,
        }
    }

    /// The value of a branch (`if`/`else`, `match` arms), from its arms' values: tuples of
    /// one arity stay tuples, element by element (so `let (id, _) = if c { (a, &x) } else
    /// { (b, &y) }` binds `id` to what the first elements hold); anything else holds what
    /// any arm holds.
    pub(crate) fn join(arms: Vec<Val>) -> Val {
        // A place read by value is moved or copied out: it holds nothing of its own.
        let arms: Vec<Val> = arms
            .into_iter()
            .map(|arm| match arm {
                Val::Place(_) => Val::Owned,
                other => other,
            })
            .collect();
        if arms.iter().all(|arm| matches!(arm, Val::Owned)) {
            return Val::Owned;
        }
        // `if c { &x.a } else { &x.b }`: one reference, whichever arm gave it.
        if arms
            .iter()
            .all(|arm| matches!(arm, Val::Borrow(_) | Val::Owned))
        {
            let found = arms.iter().flat_map(Val::findings).collect();
            return Val::Borrow(found);
        }
        let arity = match arms.first() {
            Some(Val::Many(first)) if first.iter().all(|v| !matches!(v, Val::Named(..))) => {
                first.len()
            }
            _ => 0,
        };
        let tuples = arity > 0
            && arms.iter().all(|arm| {
                matches!(arm, Val::Many(vals) if vals.len() == arity
                    && vals.iter().all(|v| !matches!(v, Val::Named(..))))
            });
        if !tuples {
            // Alternatives of another kind: whatever any of them holds, as one borrow of
            // unknown shape (never a tuple, whose parts a pattern or `.clone()` would take
            // apart).
            let found: Vec<Finding> = arms
                .iter()
                .flat_map(Val::findings)
                .map(|f| Finding {
                    shape: Shape::Unknown,
                    ..f
                })
                .collect();
            return if found.is_empty() {
                Val::Owned
            } else {
                Val::Borrow(found)
            };
        }
        let mut columns: Vec<Vec<Val>> = (0..arity).map(|_| Vec::new()).collect();
        for arm in arms {
            if let Val::Many(vals) = arm {
                for (column, val) in columns.iter_mut().zip(vals) {
                    column.push(val);
                }
            }
        }
        Val::Many(columns.into_iter().map(Val::join).collect()).or_owned()
    }

    /// The value once bound to a name by value: a place is moved (or copied) out, so the
    /// new binding owns it; borrows stay borrows.
    pub(crate) fn held(self) -> Val {
        match self {
            Val::Place(_) | Val::Owned => Val::Owned,
            Val::Many(vals) => Val::Many(vals.into_iter().map(Val::held).collect()),
            Val::Named(name, val) => Val::Named(name, Box::new(val.held())),
            other => other,
        }
    }

    /// The value of one item when iterating over this value (`for x in VALUE`).
    pub(crate) fn items(self) -> Val {
        match self {
            Val::Iter(_, item) => *item,
            // `for u in &batch`: each item is a reference.
            Val::Borrow(found) => Val::Borrow(shaped(found, Shape::Ref)),
            Val::Many(_) => match self.findings() {
                found if found.is_empty() => Val::Owned,
                found => Val::Borrow(found),
            },
            Val::Named(_, val) => val.items(),
            Val::Place(_) | Val::Owned => Val::Owned,
        }
    }

    /// `Owned` when the value holds nothing, itself otherwise.
    fn or_owned(self) -> Val {
        if self.findings().is_empty() {
            Val::Owned
        } else {
            self
        }
    }

    /// The same borrows, reported at `tokens`.
    fn at(self, tokens: &TokenStream) -> Val {
        self.map_findings(&mut |f| Finding {
            tokens: tokens.clone(),
            shape: Shape::Unknown,
            ..f
        })
    }

    fn map_findings(self, map: &mut impl FnMut(Finding) -> Finding) -> Val {
        match self {
            Val::Owned => Val::Owned,
            Val::Place(Place::Var(var)) => Val::Place(Place::Var(var)),
            Val::Place(Place::Through(found)) => {
                Val::Place(Place::Through(found.into_iter().map(&mut *map).collect()))
            }
            Val::Borrow(found) => Val::Borrow(found.into_iter().map(&mut *map).collect()),
            Val::Iter(found, item) => Val::Iter(
                found.into_iter().map(&mut *map).collect(),
                Box::new(item.map_findings(map)),
            ),
            Val::Many(vals) => Val::Many(vals.into_iter().map(|v| v.map_findings(map)).collect()),
            Val::Named(name, val) => Val::Named(name, Box::new(val.map_findings(map))),
        }
    }
}

/// The value of a binding read by name at `tokens` (computed only when the value holds
/// borrows): its borrows, now reported as going through `name`.
pub(crate) fn read_binding(binding: &Binding, tokens: impl FnOnce() -> TokenStream) -> Val {
    match &binding.held {
        Val::Owned if binding.loop_var => Val::Place(Place::Var(binding.name.clone())),
        Val::Owned => Val::Owned,
        held => {
            let tokens = tokens();
            // The name has the type of the bound expression when that was the borrow
            // itself; inside a tuple or an iterator it is something else.
            let direct = matches!(held, Val::Borrow(_));
            held.clone().map_findings(&mut |f| Finding {
                tokens: tokens.clone(),
                via: Some(binding.name.clone()),
                kind: if f.kind == Kind::RefBinding {
                    Kind::RefBinding
                } else {
                    Kind::Alias
                },
                var: f.var,
                shape: if direct { f.shape } else { Shape::Unknown },
            })
        }
    }
}

/// The borrows a `ref` binding of `name` holds when matched against `val`.
pub(crate) fn ref_binding(val: Val, name: &syn::Ident, loop_item: bool) -> Val {
    let tokens = name.to_token_stream();
    let found = match val {
        Val::Place(Place::Var(var)) => vec![Finding {
            tokens,
            var,
            via: None,
            kind: Kind::RefBinding,
            shape: Shape::Ref,
        }],
        other => other.findings(),
    };
    if !found.is_empty() {
        let found = found
            .into_iter()
            .map(|f| Finding {
                kind: Kind::RefBinding,
                shape: Shape::Unknown,
                ..f
            })
            .collect();
        return Val::Borrow(found);
    }
    if loop_item {
        // `for ref u in users`: `u` borrows the iteration's own item.
        return Val::Borrow(vec![Finding {
            tokens: name.to_token_stream(),
            var: name.to_string(),
            via: None,
            kind: Kind::RefBinding,
            shape: Shape::Ref,
        }]);
    }
    Val::Owned
}

impl Walker<'_> {
    /// The abstract value of `expr` in the current scopes. Never reports anything itself;
    /// nested blocks are walked quietly, only for their bindings.
    pub(crate) fn value(&mut self, expr: &Expr) -> Val {
        match expr {
            Expr::Paren(p) => self.value(&p.expr),
            Expr::Group(g) => self.value(&g.expr),
            Expr::Path(p) => {
                if p.qself.is_some() || p.path.leading_colon.is_some() {
                    return Val::Owned;
                }
                let Some(ident) = p.path.get_ident() else {
                    return Val::Owned;
                };
                match self.scopes.lookup(&ident.to_string()) {
                    Some((_, binding)) => read_binding(binding, || p.to_token_stream()),
                    None => Val::Owned,
                }
            }
            Expr::Reference(r) => self.reference(expr, &r.expr),
            Expr::RawAddr(r) => self.reference(expr, &r.expr),
            Expr::Field(f) => match self.value(&f.base) {
                Val::Place(place) => Val::Place(place),
                Val::Borrow(found) => Val::Place(Place::Through(found)),
                many @ Val::Many(_) => many.element(&f.member),
                _ => Val::Owned,
            },
            Expr::Index(i) => match self.value(&i.expr) {
                Val::Place(place) => Val::Place(place),
                Val::Borrow(found) => Val::Place(Place::Through(found)),
                // `[&a, &b][0]`: a literal index picks its element, like `.0` does.
                many @ Val::Many(_) => match literal_index(&i.index) {
                    Some(index) => many.element(&Member::Unnamed(syn::Index::from(index))),
                    // Some element, which one is not known: any of them.
                    None => match many {
                        Val::Many(vals) => Val::join(vals.into_iter().map(Val::unnamed).collect()),
                        other => other,
                    },
                },
                _ => Val::Owned,
            },
            Expr::Unary(u) => match (&u.op, self.value(&u.expr)) {
                (UnOp::Deref(_), Val::Place(place)) => Val::Place(place),
                (UnOp::Deref(_), Val::Borrow(found)) => Val::Place(Place::Through(found)),
                _ => Val::Owned,
            },
            Expr::MethodCall(m) => {
                let receiver = self.value(&m.receiver);
                if let Val::Iter(found, item) = &receiver
                    && m.method == "map"
                    && let Some(mapped) = self.closure_result(m.args.first(), item)
                {
                    // `iter.map(|t| t.trim())`: the items are what the closure returns.
                    let tokens = expr.to_token_stream();
                    let found = Val::Borrow(found.clone()).at(&tokens).findings();
                    return Val::Iter(found, Box::new(mapped.at(&tokens)));
                }
                if let Val::Borrow(found) = &receiver
                    && (m.method == "map" || m.method == "and_then")
                    && found.iter().all(|f| f.shape == Shape::OptionRef)
                {
                    // `x.tags.first().map(|t| t.trim())`: an `Option` of what the closure
                    // returns for the reference inside.
                    let inside = Val::Borrow(shaped(found.clone(), Shape::Ref));
                    if let Some(mapped) = self.closure_result(m.args.first(), &inside) {
                        return mapped.at(&expr.to_token_stream());
                    }
                }
                let other = match m.args.first() {
                    Some(arg) if m.method == "zip" => self.value(arg),
                    _ => Val::Owned,
                };
                method_value(receiver, &m.method.to_string(), expr, &m.receiver, other)
            }
            Expr::Call(c) => match strip_parens(&c.func) {
                Expr::Path(p) if methods::constructor(&p.path) => {
                    let vals = c.args.iter().map(|arg| self.value(arg)).collect();
                    Val::Many(vals).or_owned()
                }
                _ => Val::Owned,
            },
            Expr::Tuple(t) => self.many(t.elems.iter()),
            Expr::Array(a) => self.many(a.elems.iter()),
            Expr::Repeat(r) => self.value(&r.expr),
            Expr::Struct(s) => {
                let mut vals: Vec<Val> = s
                    .fields
                    .iter()
                    .map(|f| match &f.member {
                        Member::Named(name) => {
                            Val::Named(name.to_string(), Box::new(self.value(&f.expr)))
                        }
                        Member::Unnamed(_) => self.value(&f.expr),
                    })
                    .collect();
                if let Some(rest) = &s.rest {
                    vals.push(self.value(rest).held());
                }
                Val::Many(vals).or_owned()
            }
            Expr::Range(r) => {
                let vals = [&r.start, &r.end]
                    .into_iter()
                    .flatten()
                    .map(|e| self.value(e))
                    .collect();
                Val::Many(vals).or_owned()
            }
            Expr::Cast(c) => self.value(&c.expr),
            Expr::Try(t) => self.value(&t.expr),
            Expr::Block(b) => self.block_value(&b.block),
            Expr::Unsafe(u) => self.block_value(&u.block),
            Expr::If(i) => {
                self.scopes.push();
                self.quietly(|w| w.expr(&i.cond));
                let then = self.block_value(&i.then_branch);
                self.scopes.pop();
                let otherwise = match &i.else_branch {
                    Some((_, e)) => self.value(e),
                    None => Val::Owned,
                };
                Val::join(vec![then, otherwise])
            }
            Expr::Match(m) => {
                let scrutinee = self.value(&m.expr);
                let mut vals = Vec::new();
                for arm in &m.arms {
                    self.scopes.push();
                    self.quietly(|w| w.arm_pattern(&arm.pat, scrutinee.clone()));
                    vals.push(self.value(&arm.body));
                    self.scopes.pop();
                }
                Val::join(vals)
            }
            Expr::Closure(c) => {
                let found = self.mentions_in(|w| {
                    w.scopes.push();
                    for input in &c.inputs {
                        w.bind_pat(input, Val::Owned, false, false);
                    }
                    w.expr(&c.body);
                    w.scopes.pop();
                });
                captured_by(found, c.capture.is_some(), false)
            }
            Expr::Async(a) => {
                let found = self.mentions_in(|w| w.block(&a.block));
                captured_by(found, a.capture.is_some(), true)
            }
            Expr::Macro(m) => self.macro_value(&m.mac),
            _ => Val::Owned,
        }
    }

    /// What a one-parameter closure `arg` returns for an item of value `item`, when that
    /// holds a borrow (`|t| t.trim()` on borrowed items); `None` for anything else (a path
    /// like `String::as_str` is left to rustc).
    fn closure_result(&mut self, arg: Option<&Expr>, item: &Val) -> Option<Val> {
        let Some(Expr::Closure(closure)) = arg.map(strip_parens) else {
            return None;
        };
        if closure.inputs.len() != 1 {
            return None;
        }
        self.scopes.push();
        self.quietly(|w| w.bind_pat(&closure.inputs[0], item.clone(), false, false));
        // Reported as the loop variable's borrow, not through the closure's parameter.
        let val = self
            .value(&closure.body)
            .map_findings(&mut |f| Finding { via: None, ..f });
        self.scopes.pop();
        Some(val).filter(|val| !val.findings().is_empty())
    }

    fn many<'a>(&mut self, exprs: impl Iterator<Item = &'a Expr>) -> Val {
        let vals = exprs.map(|e| self.value(e)).collect();
        Val::Many(vals)
    }

    /// `&inner` / `&mut inner` / `&raw const inner`, the whole being `expr`.
    fn reference(&mut self, expr: &Expr, inner: &Expr) -> Val {
        // The tokens and the source text of the findings are computed only when there are
        // findings.
        let kind = || Kind::Reference {
            place: source_text(inner.to_token_stream()),
            indexed: matches!(strip_parens(inner), Expr::Index(_)),
            mutable: match expr {
                Expr::Reference(r) => r.mutability.is_some(),
                _ => false,
            },
        };
        match self.value(inner) {
            Val::Place(Place::Var(var)) => Val::Borrow(vec![Finding {
                tokens: expr.to_token_stream(),
                var,
                via: None,
                kind: kind(),
                shape: Shape::Ref,
            }]),
            Val::Place(Place::Through(found)) => {
                let (tokens, kind) = (expr.to_token_stream(), kind());
                Val::Borrow(
                    found
                        .into_iter()
                        .map(|f| Finding {
                            tokens: tokens.clone(),
                            kind: kind.clone(),
                            shape: Shape::Ref,
                            ..f
                        })
                        .collect(),
                )
            }
            Val::Borrow(found) => Val::Borrow(found).at(&expr.to_token_stream()),
            Val::Iter(found, item) => Val::Iter(found, item).at(&expr.to_token_stream()),
            many @ Val::Many(_) => many.or_owned(),
            Val::Owned | Val::Named(..) => Val::Owned,
        }
    }

    /// The value of a block: its tail expression, after its statements' bindings.
    fn block_value(&mut self, block: &syn::Block) -> Val {
        self.scopes.push();
        let mut val = Val::Owned;
        for (i, stmt) in block.stmts.iter().enumerate() {
            match stmt {
                Stmt::Expr(e, None) if i + 1 == block.stmts.len() => val = self.value(e),
                other => self.quietly(|w| w.stmt(other)),
            }
        }
        self.scopes.pop();
        val
    }

    /// `vec![a, b]` and `vec![a; n]` hold their elements; other macros (`format!`) produce
    /// owned values.
    fn macro_value(&mut self, mac: &syn::Macro) -> Val {
        // `dbg!(x)` gives back `x`.
        if mac.path.segments.last().is_some_and(|s| s.ident == "dbg")
            && let Ok(arg) = mac.parse_body::<Expr>()
        {
            return self.value(&arg);
        }
        let is_vec = mac.path.segments.last().is_some_and(|s| s.ident == "vec");
        if !is_vec {
            return Val::Owned;
        }
        if let Ok(elems) = mac
            .parse_body_with(syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated)
        {
            return self.many(elems.iter()).or_owned();
        }
        if let Ok(elem) = mac.parse_body_with(|input: syn::parse::ParseStream| {
            let elem: Expr = input.parse()?;
            input.parse::<syn::Token![;]>()?;
            let _len: Expr = input.parse()?;
            Ok(elem)
        }) {
            return self.value(&elem);
        }
        Val::Owned
    }
}

/// A method call's value from its receiver's; `expr` is the whole call.
fn method_value(receiver: Val, method: &str, expr: &Expr, receiver_expr: &Expr, other: Val) -> Val {
    // What the findings need (tokens, source text), only when there can be any.
    let receiver = receiver.unnamed();
    match &receiver {
        Val::Owned => return Val::Owned,
        Val::Many(_) if receiver.findings().is_empty() => return Val::Owned,
        _ => {}
    }
    let tokens = &expr.to_token_stream();
    let args = match expr {
        Expr::MethodCall(call) => call.args.len(),
        _ => 0,
    };
    match receiver {
        Val::Place(place) => {
            let kind = Kind::Method {
                receiver: source_text(receiver_expr.to_token_stream()),
                call: source_text(tokens.clone()),
                iterates: methods::iter_of_refs(method) || methods::iter_of_values(method),
            };
            let shape = methods::shape(method, args);
            let found = match place {
                Place::Var(var) => vec![Finding {
                    tokens: tokens.clone(),
                    var,
                    via: None,
                    kind,
                    shape,
                }],
                Place::Through(found) => found
                    .into_iter()
                    .map(|f| Finding {
                        tokens: tokens.clone(),
                        kind: kind.clone(),
                        shape,
                        ..f
                    })
                    .collect(),
            };
            borrowed_method(found, method, args)
        }
        Val::Borrow(found) => {
            let found: Vec<Finding> = found
                .into_iter()
                .map(|f| Finding {
                    tokens: tokens.clone(),
                    shape: methods::shape_after(f.shape, method, args),
                    ..f
                })
                .collect();
            // `clone()` of an `Option<&T>` is the same `Option<&T>` (of a `&T`, an owned `T`).
            let option_clone =
                method == "clone" && found.iter().all(|f| f.shape == Shape::OptionRef);
            if methods::keeps_borrow(method, args) || option_clone {
                Val::Borrow(found)
            } else if method == "into_iter" {
                let items = shaped(found.clone(), Shape::Ref);
                Val::Iter(shaped(found, Shape::Unknown), Box::new(Val::Borrow(items)))
            } else {
                borrowed_method(found, method, args)
            }
        }
        many @ Val::Many(_) => {
            let found = many.findings();
            if found.is_empty() {
                return Val::Owned;
            }
            let found: Vec<Finding> = found
                .into_iter()
                .map(|f| Finding {
                    tokens: tokens.clone(),
                    shape: Shape::Unknown,
                    ..f
                })
                .collect();
            if method == "into_iter" || methods::iter_of_refs(method) {
                Val::Iter(found.clone(), Box::new(Val::Borrow(found)))
            } else if method == "clone" || methods::keeps_borrow(method, args) {
                // `Some(&x).clone()`, `Some(&x).unwrap()`, `(a, &x).clone()`: the same type,
                // or the borrow it holds.
                Val::Borrow(found)
            } else {
                Val::Owned
            }
        }
        Val::Iter(found, item) => {
            let found: Vec<Finding> = found
                .into_iter()
                .map(|f| Finding {
                    tokens: tokens.clone(),
                    shape: Shape::Unknown,
                    ..f
                })
                .collect();
            let item = item.at(tokens);
            if method == "enumerate" {
                Val::Iter(found, Box::new(Val::Many(vec![Val::Owned, item])))
            } else if method == "zip" {
                let mut all = found;
                all.extend(other.findings());
                let other_item = other.items();
                Val::Iter(all, Box::new(Val::Many(vec![item, other_item])))
            } else if methods::iter_same_items(method) {
                Val::Iter(found, Box::new(item))
            } else if methods::iter_owned_items(method) {
                Val::Iter(found, Box::new(Val::Owned))
            } else if method == "collect" {
                // Into a collection that keeps its items (`collect::<Vec<_>>()`) the borrows
                // stay; into anything else (`collect::<String>()` of `&str`s, or a type the
                // context gives) they may not: silent.
                match expr {
                    Expr::MethodCall(call) if collects_items(call.turbofish.as_ref()) => {
                        item.or_owned()
                    }
                    _ => Val::Owned,
                }
            } else if methods::iter_one_item(method) {
                item.or_owned()
            } else {
                Val::Owned
            }
        }
        Val::Owned | Val::Named(..) => Val::Owned,
    }
}

/// `::<Vec<_>>`, `::<HashSet<&str>>`: a collection that stores the items as they are.
fn collects_items(turbofish: Option<&syn::AngleBracketedGenericArguments>) -> bool {
    let Some(syn::GenericArgument::Type(syn::Type::Path(ty))) =
        turbofish.and_then(|t| t.args.first())
    else {
        return false;
    };
    ty.path.segments.last().is_some_and(|segment| {
        matches!(
            segment.ident.to_string().as_str(),
            "Vec" | "VecDeque" | "LinkedList" | "HashSet" | "BTreeSet" | "BinaryHeap"
        )
    })
}

/// `0` in `pair[0]`.
fn literal_index(expr: &Expr) -> Option<usize> {
    match strip_parens(expr) {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(int),
            ..
        }) => int.base10_parse().ok(),
        _ => None,
    }
}

/// The same borrows, as held by a value of this shape.
fn shaped(found: Vec<Finding>, shape: Shape) -> Vec<Finding> {
    found.into_iter().map(|f| Finding { shape, ..f }).collect()
}

/// A method called on (a place behind) borrows `found`.
fn borrowed_method(found: Vec<Finding>, method: &str, args: usize) -> Val {
    if methods::borrowing(method, args) {
        Val::Borrow(found)
    } else if methods::iter_of_refs(method) {
        Val::Iter(
            found.clone(),
            Box::new(Val::Borrow(shaped(found, Shape::Ref))),
        )
    } else if methods::iter_of_values(method) {
        Val::Iter(found, Box::new(Val::Owned))
    } else {
        Val::Owned
    }
}

/// What a closure or `async` block holds, from the outside places it mentions: a
/// non-`move` one borrows each loop variable it mentions; a `move` one holds what each
/// mentioned place holds (a field `pair.0` of a tuple or struct literal: that element only,
/// as edition 2021 captures; through a reference: the reference).
fn captured_by(mentions: Vec<Mention>, is_move: bool, is_async: bool) -> Val {
    let mut seen: Vec<(String, Vec<syn::Member>)> = Vec::new();
    let mut found = Vec::new();
    for Mention {
        tokens,
        binding,
        fields,
        borrowed,
    } in mentions
    {
        let key = (binding.name.clone(), fields.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        if !is_move && binding.loop_var {
            // Where the closure may move or copy the variable instead (`|| drop(x)`, `||
            // send(x.id)`), rustc captures by value or by reference as its type says:
            // not known here, so silent.
            if !borrowed {
                continue;
            }
            found.push(Finding {
                tokens,
                var: binding.name.clone(),
                via: None,
                kind: Kind::Closure { is_async },
                shape: Shape::Unknown,
            });
        } else {
            // By value: only what the captured place holds.
            let mut val = read_binding(&binding, || tokens);
            for field in &fields {
                val = match val {
                    many @ Val::Many(_) => many.element(field),
                    // Through a reference the capture stops at the reference itself.
                    held @ (Val::Borrow(_) | Val::Iter(..)) => held,
                    _ => Val::Owned,
                };
            }
            let projected = !fields.is_empty();
            found.extend(val.findings().into_iter().map(|f| Finding {
                kind: Kind::MovedAlias,
                shape: if projected { Shape::Unknown } else { f.shape },
                ..f
            }));
        }
    }
    if found.is_empty() {
        Val::Owned
    } else {
        Val::Borrow(found)
    }
}
