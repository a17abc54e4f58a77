//! Stress test of the loop-borrow check: it must never reject a program that rustc accepts.
//!
//! About 640 small `#[atomic]` fns are generated from three lists: loop forms (what the
//! loop variable `x` is: an owned item, a borrowed one, `&mut`, a `'static` text), binding
//! forms (what the captured value `y` is made of), and capture forms (how `enqueue!` takes
//! `y`). Each program gets two verdicts:
//!
//! - the check's: `expand_atomic`, in this process, and whether its output says "`enqueue!`
//!   would capture";
//! - rustc's without the check: the expansions of `expand_atomic_unchecked`, written as
//!   source text into one generated crate (each program in a `mod case_NNN`), checked with
//!   `cargo check --message-format=json`; an error belongs to the program whose `mod` holds
//!   its line.
//!
//! A program rustc accepts and the check rejects is a false positive: the test fails and
//! prints it. Those already known are listed in [`KNOWN_FALSE_POSITIVES`] (the test fails
//! too when one of them stops being one, so the list shrinks as the check improves).
//! Programs rustc rejects for a reason other than the borrow checker are counted as invalid.
//!
//! The programs are a deterministic choice among every combination: a greedy pairwise cover
//! (each loop form meets each binding form and each capture form, each binding form each
//! capture form), in an order shuffled by a fixed-seed LCG. `ONCOMMIT_STRESS_ALL=1` checks
//! every combination instead (several thousand programs, about two minutes; it also reports
//! the unlisted instances of the known false positives' classes);
//! `ONCOMMIT_STRESS_VERBOSE=1` prints the invalid programs and their errors.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use quote::ToTokens;

/// Generator keys (`loop/binding/capture`) of programs that rustc accepts and the check
/// rejects today, each with why. The test fails on a false positive missing here, and on a
/// listed key that is no longer one: remove it then.
const KNOWN_FALSE_POSITIVES: &[(&str, &str)] = &[];

/// At most this many programs for the pairwise cover (it needs about 640).
const BUDGET: usize = 1000;

/// What the loop variable `x` is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Elem {
    /// `Item`, owned.
    Own,
    /// `&Item`, borrowed from a parameter.
    Ref,
    /// `&mut Item`.
    Mut,
    /// `&'static str`.
    Lit,
    /// `&'static &'static str`.
    LitRef,
}

impl Elem {
    fn is_item(self) -> bool {
        matches!(self, Elem::Own | Elem::Ref | Elem::Mut)
    }
}

/// What the captured value `y` is, for the capture forms that need a method of it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ty {
    Num,
    /// `String`, `&String`, `&&str`: has `len()`, and works as a receiver.
    Text,
    /// `&str` or `&[u8]`: has `len()`; not a receiver (`enqueue!` clones a place receiver,
    /// and `str` is not `Clone`).
    Str,
    Item,
    /// `&&mut Item`: not a receiver (`&mut Item` is not `Clone`).
    MutRef,
    Other,
}

struct LoopForm {
    key: &'static str,
    elem: Elem,
    /// Binds an index `i` too (`enumerate`).
    index: bool,
    /// The loop, `BODY` where its body goes.
    code: &'static str,
}

const fn lp(key: &'static str, elem: Elem, index: bool, code: &'static str) -> LoopForm {
    LoopForm {
        key,
        elem,
        index,
        code,
    }
}

const LOOPS: &[LoopForm] = &[
    lp("for_owned", Elem::Own, false, "for x in items {BODY}"),
    lp("for_ref", Elem::Ref, false, "for x in &items {BODY}"),
    lp("for_iter", Elem::Ref, false, "for x in items.iter() {BODY}"),
    lp(
        "for_enumerate",
        Elem::Ref,
        true,
        "for (i, x) in items.iter().enumerate() {BODY}",
    ),
    lp(
        "for_iter_mut",
        Elem::Mut,
        false,
        "for x in items.iter_mut() {BODY}",
    ),
    lp(
        "while_let_owned",
        Elem::Own,
        false,
        "let mut iter = items.into_iter();\n    while let Some(x) = iter.next() {BODY}",
    ),
    lp(
        "while_let_iter",
        Elem::Ref,
        false,
        "let mut iter = items.iter();\n    while let Some(x) = iter.next() {BODY}",
    ),
    lp(
        "loop_pop",
        Elem::Own,
        false,
        "let mut rest = items;\n    loop {\n        let x = match rest.pop() {\n            \
         Some(x) => x,\n            None => break,\n        };BODY}",
    ),
    lp(
        "loop_index",
        Elem::Ref,
        false,
        "let mut k = 0;\n    loop {\n        if k == items.len() {\n            break;\n        \
         }\n        let x = &items[k];\n        k += 1;BODY}",
    ),
    lp(
        "for_each_ref",
        Elem::Ref,
        false,
        "items.iter().for_each(|x| {BODY});",
    ),
    lp(
        "for_each_owned",
        Elem::Own,
        false,
        "items.into_iter().for_each(|x| {BODY});",
    ),
    lp(
        "nested_owned",
        Elem::Own,
        false,
        "for row in rows {\n        for x in row {BODY}\n    }",
    ),
    lp(
        "nested_ref",
        Elem::Ref,
        false,
        "for row in &rows {\n        for x in row.iter() {BODY}\n    }",
    ),
    lp(
        "nested_outer",
        Elem::Own,
        false,
        "for x in items {\n        for _k in 0..1 {BODY}\n    }",
    ),
    lp(
        "if_let_owned",
        Elem::Own,
        false,
        "for o in opts {\n        if let Some(x) = o {BODY}\n    }",
    ),
    lp(
        "if_let_ref",
        Elem::Ref,
        false,
        "for o in &opts {\n        if let Some(x) = o {BODY}\n    }",
    ),
    lp(
        "array_lit",
        Elem::Lit,
        false,
        "for x in [\"a\", \"b\"] {BODY}",
    ),
    lp(
        "array_lit_enumerate",
        Elem::Lit,
        true,
        "for (i, x) in [\"a\", \"b\"].into_iter().enumerate() {BODY}",
    ),
    lp("static_slice", Elem::LitRef, false, "for x in NAMES {BODY}"),
    lp(
        "const_slice_iter",
        Elem::LitRef,
        false,
        "for x in CODES.iter() {BODY}",
    ),
    lp(
        "static_copied",
        Elem::Lit,
        false,
        "for x in NAMES.iter().copied() {BODY}",
    ),
    lp(
        "while_let_lit",
        Elem::Lit,
        false,
        "let mut stack = vec![\"a\", \"b\"];\n    while let Some(x) = stack.pop() {BODY}",
    ),
];

const BINDINGS: &[&str] = &[
    "itself",
    "index",
    "field_copy",
    "field_copy_let",
    "field_move",
    "ref_var",
    "ref_field",
    "as_str",
    "clone_field",
    "clone_var",
    "tuple_copy",
    "tuple_borrow",
    "struct_copy",
    "struct_ref",
    "struct_move",
    "if_ref",
    "if_owned",
    "pair_ref",
    "pair_copy",
    "pair_field",
    "trim",
    "cell_copy",
    "cell_ref",
    "opt_as_ref",
    "opt_first",
    "opt_cloned",
    "shadow_clone",
    "shadow_copy",
    "reassign_owned",
    "reassign_borrow",
    "reassign_static",
];

/// The statements that bind the captured value (one a line), the value's expression (a name
/// or a place), and its kind; `None` where the binding form does not fit the loop variable.
fn bind(key: &str, lp: &LoopForm) -> Option<(String, String, Ty)> {
    use Ty::{Item, MutRef, Num, Other, Str, Text};
    let e = lp.elem;
    // The loop variable as a `&'static str` value, and the kind of `x` itself.
    let s = if e == Elem::LitRef { "*x" } else { "x" };
    let xt = if e == Elem::Lit { Str } else { Text };
    let b = |stmts: &str, value: &str, ty: Ty| Some((stmts.replace("{s}", s), value.into(), ty));
    if key == "index" {
        return if lp.index { b("", "i", Num) } else { None };
    }
    if e.is_item() {
        match key {
            "itself" => b("", "x", Item),
            "field_copy" => b("", "x.id", Num),
            "field_copy_let" => b("let y = x.id;", "y", Num),
            "field_move" => b("", "x.name", Text),
            "ref_var" if e == Elem::Mut => b("let y = &x;", "y", MutRef),
            "ref_var" => b("let y = &x;", "y", Item),
            "ref_field" => b("let y = &x.name;", "y", Text),
            "as_str" => b("let y = x.name.as_str();", "y", Str),
            "clone_field" => b("let y = x.name.clone();", "y", Text),
            "clone_var" => b("let y = x.clone();", "y", Item),
            "tuple_copy" => b("let (id, _n) = (x.id, &x.name);", "id", Num),
            "tuple_borrow" => b("let (_id, n) = (x.id, &x.name);", "n", Text),
            "struct_copy" if e == Elem::Own => b("let Item { id, .. } = x;", "id", Num),
            "struct_copy" => b("let Item { id, .. } = *x;", "id", Num),
            "struct_ref" if e == Elem::Own => b("let Item { id, .. } = &x;", "id", Num),
            "struct_ref" => b("let Item { id, .. } = x;", "id", Num),
            "struct_move" => b("let Item { name, .. } = x;", "name", Text),
            "if_ref" => b("let y = if x.id > 0 { &x.a } else { &x.b };", "y", Text),
            "if_owned" => b(
                "let y = if x.id > 0 { x.a.clone() } else { x.b.clone() };",
                "y",
                Text,
            ),
            "pair_ref" => b("let pair = (&x.name, &x.a);\nlet y = pair.0;", "y", Text),
            "pair_copy" => b("let pair = (x.id, &x.name);\nlet y = pair.0;", "y", Num),
            "pair_field" => b("let pair = (x.id, &x.name);", "pair.0", Num),
            "trim" => b("let y = x.name.trim();", "y", Str),
            "cell_copy" => b("let cell = Cell::new(x.id);\nlet y = cell.get();", "y", Num),
            "cell_ref" => b(
                "let cell = Cell::new(x.name.as_str());\nlet y = cell.get();",
                "y",
                Str,
            ),
            "opt_as_ref" => b("let y = x.tag.as_ref();", "y", Other),
            "opt_first" => b("let y = x.tags.first();", "y", Other),
            "opt_cloned" => b("let y = x.tags.first().cloned();", "y", Other),
            "shadow_clone" => b("let x = x.clone();", "x", Item),
            "shadow_copy" => b("let x = x.id;", "x", Num),
            "reassign_owned" => b("let mut y = String::new();\ny = x.name.clone();", "y", Text),
            "reassign_borrow" => b(
                "let mut y: &str = \"none\";\ny = x.name.as_str();",
                "y",
                Str,
            ),
            "reassign_static" => b("let mut y = x.name.as_str();\ny = \"none\";", "y", Str),
            _ => None,
        }
    } else {
        match key {
            "itself" => b("", "x", xt),
            "field_copy" => b("", "x.len()", Num),
            "field_copy_let" => b("let y = x.len();", "y", Num),
            "ref_var" => b("let y = &x;", "y", Text),
            "as_str" => b("let y = x.as_bytes();", "y", Str),
            "clone_field" => b("let y = x.to_string();", "y", Text),
            "clone_var" => b("let y = x.clone();", "y", Str),
            "tuple_copy" => b("let (n, _s) = (x.len(), x);", "n", Num),
            "tuple_borrow" => b("let (_n, s) = (x.len(), x);", "s", xt),
            "if_ref" => b(
                "let y = if x.len() > 1 { {s} } else { \"none\" };",
                "y",
                Str,
            ),
            "if_owned" => b(
                "let y = if x.len() > 1 { x.to_string() } else { String::new() };",
                "y",
                Text,
            ),
            "pair_ref" => b("let pair = ({s}, \"none\");\nlet y = pair.0;", "y", Str),
            "pair_copy" => b("let pair = (x.len(), x);\nlet y = pair.0;", "y", Num),
            "pair_field" => b("let pair = (x.len(), x);", "pair.0", Num),
            "trim" => b("let y = x.trim();", "y", Str),
            "cell_copy" => b(
                "let cell = Cell::new(x.len());\nlet y = cell.get();",
                "y",
                Num,
            ),
            "cell_ref" => b("let cell = Cell::new({s});\nlet y = cell.get();", "y", Str),
            "opt_as_ref" => b(
                "let o = Some({s});\nlet y = o.as_ref().copied();",
                "y",
                Other,
            ),
            "opt_first" => b("let y = x.split(',').next();", "y", Other),
            "opt_cloned" => b(
                "let y = x.split(',').next().map(str::to_owned);",
                "y",
                Other,
            ),
            // `String` from a `&str`, `&str` from a `&&str`.
            "shadow_clone" if e == Elem::Lit => b("let x = x.to_owned();", "x", Text),
            "shadow_clone" => b("let x = x.to_owned();", "x", Str),
            "shadow_copy" => b("let x = x.len();", "x", Num),
            "reassign_owned" => b("let mut y = String::new();\ny = x.to_string();", "y", Text),
            "reassign_borrow" => b("let mut y: &str = \"none\";\ny = {s};", "y", Str),
            "reassign_static" => b("let mut y = {s};\ny = \"none\";", "y", Str),
            _ => None,
        }
    }
}

const CAPTURES: &[&str] = &[
    "send",
    "send_clone",
    "send_to_owned",
    "send_format",
    "run_move",
    "run_ref",
    "run_drop",
    "send_tuple",
    "receiver",
    "send_len",
    "job",
];

/// The input of the `enqueue!` that captures `value`; `None` where it would not type-check.
fn capture(key: &str, value: &str, ty: Ty) -> Option<String> {
    let is_name = value.chars().all(|c| c.is_alphanumeric() || c == '_');
    Some(match key {
        "send" => format!("sink.send({value})"),
        "send_clone" => format!("sink.send({value}.clone())"),
        "send_to_owned" => format!("sink.send({value}.to_owned())"),
        "send_format" if is_name => format!("sink.send(format!(\"{{{value}:?}}\"))"),
        "send_format" => format!("sink.send(format!(\"{{:?}}\", {value}))"),
        "run_move" => format!("sink.run(move || {{ let _ = &{value}; }})"),
        "run_ref" => format!("sink.run(|| {{ let _ = &{value}; }})"),
        "run_drop" => format!("sink.run(|| drop({value}))"),
        "send_tuple" => format!("sink.send(({value}, 1))"),
        "receiver" if !matches!(ty, Ty::Str | Ty::MutRef) => format!("{value}.send()"),
        "send_len" if matches!(ty, Ty::Text | Ty::Str) => format!("sink.send({value}.len())"),
        "job" => format!("sink.send(Job {{ to: {value} }})"),
        _ => return None,
    })
}

/// What every generated program can use; `enqueue!` expands to nothing there (the
/// expansions keep an `enqueue!(@used);` per replaced invocation).
const PRELUDE: &str = r#"#![allow(warnings)]
use std::cell::Cell;

use oncommit::memory::Memory;
use oncommit::{Conn, Error};

macro_rules! enqueue {
    ($($tokens:tt)*) => {};
}

#[derive(Clone, Debug, Default)]
pub struct Item {
    pub id: u64,
    pub name: String,
    pub a: String,
    pub b: String,
    pub tag: Option<String>,
    pub tags: Vec<String>,
}

#[derive(Clone)]
pub struct Sink;

impl Sink {
    pub fn send<T: Send + 'static>(&self, _value: T) {}
    pub fn run<F: FnOnce() + Send + 'static>(&self, f: F) {
        f()
    }
}

/// `y.send()` on any value.
pub trait Deliver {
    fn send(&self) {}
}
impl<T: ?Sized> Deliver for T {}

#[derive(Debug)]
pub struct Job<T> {
    pub to: T,
}

pub static NAMES: &[&str] = &["a", "b"];
pub const CODES: &[&str] = &["x", "y"];
"#;

struct Program {
    key: String,
    source: String,
}

fn program(lp: &LoopForm, binding: &str, capture_key: &str) -> Option<Program> {
    let (stmts, value, ty) = bind(binding, lp)?;
    let call = capture(capture_key, &value, ty)?;
    // The body's indentation: one level per brace open before it, and the fn's own.
    let before = &lp.code[..lp.code.find("BODY").expect("a loop has a body")];
    let depth = 1 + before.matches('{').count() - before.matches('}').count();
    let indent = " ".repeat(4 * depth);
    let mut body = String::from("\n");
    for stmt in stmts.lines().chain([format!("enqueue!({call});").as_str()]) {
        writeln!(body, "{indent}{stmt}").unwrap();
    }
    body.push_str(&indent[4..]);
    let source = format!(
        "#[atomic]\nfn case(\n    conn: &mut Conn<Memory>,\n    sink: &Sink,\n    mut items: Vec<Item>,\n    \
         rows: Vec<Vec<Item>>,\n    opts: Vec<Option<Item>>,\n) -> Result<(), Error> {{\n    {}\n    \
         Ok(())\n}}\n",
        lp.code.replace("BODY", &body)
    );
    Some(Program {
        key: format!("{}/{binding}/{capture_key}", lp.key),
        source,
    })
}

/// Every combination that type-checks by construction, in a fixed order.
fn universe() -> Vec<(usize, usize, usize, Program)> {
    let mut all = Vec::new();
    for (l, lp) in LOOPS.iter().enumerate() {
        for (b, binding) in BINDINGS.iter().enumerate() {
            for (c, capture_key) in CAPTURES.iter().enumerate() {
                if let Some(program) = program(lp, binding, capture_key) {
                    all.push((l, b, c, program));
                }
            }
        }
    }
    all
}

/// A tiny LCG (Knuth's MMIX constants), fixed seed: the same programs on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// The programs to check: a greedy pairwise cover of the universe within [`BUDGET`], plus
/// every key of [`KNOWN_FALSE_POSITIVES`]; or all of it with `ONCOMMIT_STRESS_ALL=1`.
fn choose() -> Vec<Program> {
    let mut all = universe();
    if std::env::var_os("ONCOMMIT_STRESS_ALL").is_some() {
        return all.into_iter().map(|(.., p)| p).collect();
    }
    let mut rng = Lcg(0x5eed_0f10_0b0e);
    for i in (1..all.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        all.swap(i, j);
    }
    let pairs = |&(l, b, c, _): &(usize, usize, usize, Program)| [(0, l, b), (1, b, c), (2, l, c)];
    let mut covered = BTreeSet::new();
    let mut chosen = vec![false; all.len()];
    for _ in 0..BUDGET {
        // The first program (in the shuffled order) that covers the most new pairs.
        let best = all
            .iter()
            .enumerate()
            .filter(|(i, _)| !chosen[*i])
            .map(|(i, entry)| {
                let gain = pairs(entry)
                    .iter()
                    .filter(|p| !covered.contains(*p))
                    .count();
                (gain, std::cmp::Reverse(i))
            })
            .max();
        let Some((_, std::cmp::Reverse(i))) = best.filter(|(gain, _)| *gain > 0) else {
            break;
        };
        chosen[i] = true;
        covered.extend(pairs(&all[i]));
    }
    let total: BTreeSet<_> = all.iter().flat_map(pairs).collect();
    assert_eq!(
        covered.len(),
        total.len(),
        "the cover needs a larger BUDGET"
    );
    // The known false positives stay checked (chosen after the cover, so that removing one
    // from the list leaves the other programs as they were).
    let known: BTreeSet<&str> = KNOWN_FALSE_POSITIVES.iter().map(|(key, _)| *key).collect();
    for (i, entry) in all.iter().enumerate() {
        chosen[i] |= known.contains(entry.3.key.as_str());
    }
    let mut out: Vec<(usize, usize, usize, Program)> = all
        .into_iter()
        .zip(chosen)
        .filter_map(|(entry, chosen)| chosen.then_some(entry))
        .collect();
    out.sort_by_key(|&(l, b, c, _)| (l, b, c));
    out.into_iter().map(|(.., p)| p).collect()
}

/// The check's verdict on one program: its messages, empty when it accepts; and the
/// expansion without the check, for rustc.
fn expand(program: &Program) -> (Vec<String>, String) {
    let mut func: syn::ItemFn = syn::parse_str(&program.source)
        .unwrap_or_else(|e| panic!("{}: does not parse: {e}\n{}", program.key, program.source));
    let attr = func.attrs.remove(0);
    assert!(attr.path().is_ident("atomic"), "{}", program.key);
    let args = match attr.meta {
        syn::Meta::List(list) => list.tokens,
        _ => proc_macro2::TokenStream::new(),
    };
    let item = func.to_token_stream();
    let checked = oncommit_macros_core::expand_atomic(args.clone(), item.clone()).to_string();
    let messages = if checked.contains("`enqueue!` would capture") {
        let mut messages: Vec<String> = oncommit_macros_core::loop_borrows(&func.block)
            .iter()
            .map(ToString::to_string)
            .collect();
        if messages.is_empty() {
            messages.push(checked);
        }
        messages
    } else {
        Vec::new()
    };
    let unchecked = oncommit_macros_core::expand_atomic_unchecked(args, item).to_string();
    assert!(
        !unchecked.contains("compile_error"),
        "{}: an error other than the check's:\n{}\n{unchecked}",
        program.key,
        program.source
    );
    (messages, unchecked)
}

/// Error codes of the borrow checker (and of move errors): a program rejected with only
/// these is "rejected by rustc"; any other error makes it invalid.
const BORROWCK_CODES: &[&str] = &[
    "E0373", "E0381", "E0382", "E0384", "E0499", "E0502", "E0503", "E0505", "E0506", "E0507",
    "E0508", "E0509", "E0515", "E0521", "E0594", "E0596", "E0597", "E0713", "E0716",
];

#[derive(Default, Debug)]
struct Rustc {
    /// Per program, its errors: (code, message).
    errors: BTreeMap<usize, Vec<(String, String)>>,
}

/// Writes the crate, runs `cargo check` on it, and gives each program its errors.
fn rustc_verdicts(expansions: &[(String, String)]) -> Rustc {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("ui-tests is in the workspace");
    // One crate and build per workspace: worktrees may share a target dir, and cargo names
    // a workspace's own artifacts by their paths inside it, the same in each worktree.
    let fnv = workspace
        .to_string_lossy()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    let dir = tmp.join(format!("loop-borrow-stress-{fnv:016x}"));
    let target = dir.join("target");
    std::fs::create_dir_all(dir.join("src")).unwrap();

    let mut lib = String::from(PRELUDE);
    // (first line, last line) of each program's `mod`, 1-based.
    let mut ranges = Vec::new();
    let mut last = lib.lines().count();
    for (n, (source, expansion)) in expansions.iter().enumerate() {
        // One line, as `TokenStream`'s `Display` prints it.
        assert!(!expansion.contains('\n'));
        // A blank line, `mod`, `use`, the source as comments, the expansion, `}`.
        let first = last + 2;
        last = first + 3 + source.lines().count();
        writeln!(lib, "\nmod case_{n:04} {{\n    use super::*;").unwrap();
        for line in source.lines() {
            writeln!(lib, "    // {line}").unwrap();
        }
        writeln!(lib, "    {expansion}\n}}").unwrap();
        ranges.push((first, last));
    }
    let runtime = workspace.join("runtime");
    let manifest = format!(
        "[package]\nname = \"oncommit-loop-borrow-stress\"\nversion = \"0.0.0\"\nedition = \
         \"2024\"\npublish = false\n\n[lib]\npath = \"src/lib.rs\"\n\n[dependencies]\noncommit = {{ \
         path = {runtime:?}, default-features = false }}\n\n[workspace]\n",
        runtime = runtime.display().to_string(),
    );
    write_if_changed(&dir.join("Cargo.toml"), &manifest);
    write_if_changed(&dir.join("src/lib.rs"), &lib);
    // The workspace's versions, so nothing new is resolved (cargo trims the copy to what
    // this crate uses).
    std::fs::copy(workspace.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let run = |offline: bool| {
        let mut cmd = Command::new(&cargo);
        cmd.arg("check")
            .arg("--quiet")
            .arg("--message-format=json")
            .arg("--manifest-path")
            .arg(dir.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .env("CARGO_TERM_COLOR", "never")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET_DIR");
        if offline {
            cmd.arg("--offline");
        }
        cmd.output().expect("runs cargo")
    };
    let mut output = run(true);
    let mut messages = compiler_errors(&output.stdout);
    if !output.status.success() && messages.is_empty() {
        output = run(false);
        messages = compiler_errors(&output.stdout);
    }
    assert!(
        output.status.success() || !messages.is_empty(),
        "cargo check of {} failed without compiler errors:\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );

    let mut rustc = Rustc::default();
    let mut stray = Vec::new();
    for (line, code, text) in messages {
        match ranges
            .iter()
            .position(|&(first, last)| (first..=last).contains(&line))
        {
            Some(case) => rustc.errors.entry(case).or_default().push((code, text)),
            None => stray.push(format!("line {line}: [{code}] {text}")),
        }
    }
    assert!(
        stray.is_empty(),
        "errors outside every program (in {}):\n{}",
        dir.join("src/lib.rs").display(),
        stray.join("\n")
    );
    rustc
}

fn write_if_changed(path: &PathBuf, text: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).unwrap();
    }
}

/// The errors of the generated crate: (line of the primary span, code, message).
fn compiler_errors(stdout: &[u8]) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    for line in stdout.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if json["reason"] != "compiler-message" || json["message"]["level"] != "error" {
            continue;
        }
        let message = &json["message"];
        let text = message["message"].as_str().unwrap_or_default().to_owned();
        let code = message["code"]["code"].as_str().unwrap_or("").to_owned();
        let spans = message["spans"].as_array().cloned().unwrap_or_default();
        let Some(mut span) = spans
            .iter()
            .find(|s| s["is_primary"] == true)
            .or(spans.first())
        else {
            // "aborting due to N previous errors" and the like.
            if !text.starts_with("aborting due to") {
                out.push((0, code, text));
            }
            continue;
        };
        // A span inside a macro (`format!`'s expansion) counts where the macro was called.
        while span["file_name"] != "src/lib.rs" && span["expansion"]["span"].is_object() {
            span = &span["expansion"]["span"];
        }
        let line = if span["file_name"] == "src/lib.rs" {
            span["line_start"].as_u64().unwrap_or(0) as usize
        } else {
            0
        };
        out.push((line, code, text));
    }
    out
}

#[test]
fn loop_borrow_check_never_rejects_what_rustc_accepts() {
    let started = std::time::Instant::now();
    let programs = choose();
    let keys: BTreeSet<&str> = programs.iter().map(|p| p.key.as_str()).collect();
    let mut verdicts = Vec::new();
    let mut expansions = Vec::new();
    for program in &programs {
        let (messages, expansion) = expand(program);
        verdicts.push(messages);
        expansions.push((program.source.clone(), expansion));
    }
    let rustc = rustc_verdicts(&expansions);

    let (mut accepted, mut rejected, mut named, mut invalid) = (0, 0, 0, 0);
    let mut false_positives = Vec::new();
    for (n, program) in programs.iter().enumerate() {
        let check_rejects = !verdicts[n].is_empty();
        match rustc.errors.get(&n) {
            None => {
                accepted += 1;
                if check_rejects {
                    false_positives.push(n);
                }
            }
            Some(errors)
                if errors.iter().all(|(code, text)| {
                    BORROWCK_CODES.contains(&code.as_str())
                        || code.is_empty() && text.contains("lifetime")
                }) =>
            {
                rejected += 1;
                named += usize::from(check_rejects);
            }
            Some(errors) => {
                invalid += 1;
                if std::env::var_os("ONCOMMIT_STRESS_VERBOSE").is_some() {
                    eprintln!("invalid: {}: {errors:?}\n{}", program.key, program.source);
                }
            }
        }
    }
    println!(
        "loop-borrow stress: {} programs, {accepted} accepted by rustc ({} rejected by the \
         check), {rejected} rejected by rustc ({named} named by the check, {} left to rustc's \
         error), {invalid} invalid ({:.1?})",
        programs.len(),
        false_positives.len(),
        rejected - named,
        started.elapsed(),
    );

    let known: BTreeMap<&str, &str> = KNOWN_FALSE_POSITIVES.iter().copied().collect();
    if !false_positives.is_empty() {
        println!(
            "known false positives (KNOWN_FALSE_POSITIVES): {} listed, {} of the {} found",
            known.len(),
            false_positives
                .iter()
                .filter(|&&n| known.contains_key(programs[n].key.as_str()))
                .count(),
            false_positives.len(),
        );
    }
    let mut report = String::new();
    for &n in &false_positives {
        let program = &programs[n];
        if known.contains_key(program.key.as_str()) {
            continue;
        }
        writeln!(
            report,
            "false positive `{}`: rustc accepts it, the check says:\n{}\n{}",
            program.key,
            verdicts[n].join("\n"),
            program.source
        )
        .unwrap();
    }
    let fp_keys: BTreeSet<&str> = false_positives
        .iter()
        .map(|&n| programs[n].key.as_str())
        .collect();
    for (key, why) in KNOWN_FALSE_POSITIVES {
        let state = if !keys.contains(key) {
            "generated"
        } else if !fp_keys.contains(key) {
            "a false positive"
        } else {
            continue;
        };
        writeln!(
            report,
            "listed `{key}` ({why}) is no longer {state}: remove it from KNOWN_FALSE_POSITIVES"
        )
        .unwrap();
    }
    assert!(report.is_empty(), "{report}");
}
