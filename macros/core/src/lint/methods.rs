//! Method names the analysis knows (std conventions; no types are available in a macro).
//!
//! A method not listed anywhere is assumed to return an owned value (`x.len()`,
//! `x.to_string()`, `user.id()`), so the check never rejects code it does not understand.

use super::Shape;

/// The result borrows the receiver: `x.trim()` holds a borrow of `x`. Not `as_str`: many types
/// have one that returns `&'static str` (`log::Level::as_str`), so its result is left to rustc.
const BORROWING: &[&str] = &[
    "split_once",
    "rsplit_once",
    "as_mut_str",
    "as_ref",
    "as_mut",
    "borrow",
    "borrow_mut",
    "as_slice",
    "as_mut_slice",
    "as_bytes",
    "as_bytes_mut",
    "as_path",
    "as_os_str",
    "as_c_str",
    "as_deref",
    "as_deref_mut",
    "deref",
    "deref_mut",
    "get",
    "get_mut",
    "get_unchecked",
    "first",
    "first_mut",
    "last",
    "last_mut",
    "split_first",
    "split_last",
    "split_at",
    "split_at_mut",
    "trim",
    "trim_start",
    "trim_end",
    "trim_matches",
    "trim_start_matches",
    "trim_end_matches",
    "strip_prefix",
    "strip_suffix",
    "lock",
    "try_lock",
    "read",
    "write",
    "try_borrow",
    "try_borrow_mut",
    "entry",
    "get_or_insert",
    "get_or_insert_with",
    "by_ref",
];

/// The result is an iterator borrowing the receiver whose items are references:
/// `x.iter()`, `map.keys()`, `text.lines()`.
const ITER_OF_REFS: &[&str] = &[
    "iter",
    "iter_mut",
    "keys",
    "values",
    "values_mut",
    "lines",
    "split",
    "rsplit",
    "splitn",
    "rsplitn",
    "split_terminator",
    "split_whitespace",
    "split_ascii_whitespace",
    "split_inclusive",
    "matches",
    "windows",
    "chunks",
    "chunks_mut",
    "chunks_exact",
    "rchunks",
];

/// The result is an iterator borrowing the receiver whose items are owned: `x.chars()`.
const ITER_OF_VALUES: &[&str] = &["chars", "char_indices", "bytes", "encode_utf16", "drain"];

/// On a value that already is a borrow, these keep holding it: `x.get(0).unwrap()`.
const KEEPS_BORROW: &[&str] = &[
    "unwrap",
    "expect",
    "unwrap_or",
    "unwrap_or_default",
    "unwrap_or_else",
    "unwrap_unchecked",
    "ok",
    "err",
    "ok_or",
    "ok_or_else",
    "filter",
    "or",
    "or_else",
    "xor",
    "take",
    "as_deref",
    "as_deref_mut",
];

/// Iterator to iterator, same items: `x.iter().filter(..)`.
const ITER_SAME_ITEMS: &[&str] = &[
    "filter",
    "skip",
    "take",
    "rev",
    "peekable",
    "chain",
    "step_by",
    "skip_while",
    "take_while",
    "inspect",
    "fuse",
    "cycle",
    "by_ref",
    "into_iter",
    "iter",
];

/// Iterator to iterator with owned items: `x.iter().cloned()`, `x.iter().map(f)`.
const ITER_OWNED_ITEMS: &[&str] = &[
    "cloned",
    "copied",
    "map",
    "filter_map",
    "flat_map",
    "flatten",
    "map_while",
    "scan",
];

/// Iterator to one of its items (in an `Option`): `x.iter().next()`.
const ITER_ONE_ITEM: &[&str] = &[
    "next",
    "next_back",
    "last",
    "nth",
    "nth_back",
    "max",
    "min",
    "max_by",
    "min_by",
    "max_by_key",
    "min_by_key",
    "find",
    "reduce",
];

/// Methods that take a closure called once per item (or per element of an `Option`): their
/// closure's parameters are loop variables, and its body a loop body.
const ADAPTERS: &[&str] = &[
    "for_each",
    "try_for_each",
    "map",
    "filter_map",
    "flat_map",
    "filter",
    "inspect",
    "any",
    "all",
    "find",
    "find_map",
    "position",
    "rposition",
    "fold",
    "try_fold",
    "rfold",
    "reduce",
    "scan",
    "take_while",
    "skip_while",
    "map_while",
    "partition",
    "max_by_key",
    "min_by_key",
    "max_by",
    "min_by",
    "sort_by_key",
    "sort_by",
    "sort_unstable_by_key",
    "sort_unstable_by",
    "retain",
    "retain_mut",
    "dedup_by_key",
    "for_each_concurrent",
    "try_for_each_concurrent",
    "then",
    "and_then",
];

/// Adapters whose closure's first parameter is an accumulator, not an item.
const ACCUMULATING: &[&str] = &["fold", "try_fold", "rfold", "scan"];

/// `x.trim()`: the result borrows `x`. A few names mean something else with another
/// number of arguments, and then nothing is claimed: `get()` without arguments is
/// `Cell::get` (a copy; `OnceCell::get` borrows, which is left to rustc), `read(buf)` and
/// `write(buf)` are `io::Read`/`io::Write` (a count), where `read()`/`write()` lock an
/// `RwLock`.
pub(crate) fn borrowing(method: &str, args: usize) -> bool {
    match (method, args) {
        ("get", 0) | ("read" | "write", 1..) => false,
        _ => BORROWING.contains(&method),
    }
}

/// `x.iter()`: an iterator borrowing `x`, items are references.
pub(crate) fn iter_of_refs(method: &str) -> bool {
    ITER_OF_REFS.contains(&method)
}

/// `x.chars()`: an iterator borrowing `x`, items are owned.
pub(crate) fn iter_of_values(method: &str) -> bool {
    ITER_OF_VALUES.contains(&method)
}

/// `borrow.unwrap()`: still the same borrow.
pub(crate) fn keeps_borrow(method: &str, args: usize) -> bool {
    KEEPS_BORROW.contains(&method) || borrowing(method, args)
}

/// `iter.filter(..)`: same iterator items.
pub(crate) fn iter_same_items(method: &str) -> bool {
    ITER_SAME_ITEMS.contains(&method)
}

/// `iter.cloned()`: owned items, the iterator itself still borrows.
pub(crate) fn iter_owned_items(method: &str) -> bool {
    ITER_OWNED_ITEMS.contains(&method)
}

/// `iter.next()`: one item.
pub(crate) fn iter_one_item(method: &str) -> bool {
    ITER_ONE_ITEM.contains(&method)
}

/// `iter.for_each(|x| ..)`: the closure is a loop body.
pub(crate) fn adapter(method: &str) -> bool {
    ADAPTERS.contains(&method)
}

/// `iter.fold(init, |acc, x| ..)`: the first closure parameter is not an item.
pub(crate) fn accumulating(method: &str) -> bool {
    ACCUMULATING.contains(&method)
}

/// `Box::new(&x)`, `Some(&x)`, `Wrapper(&x)`: a call whose result holds its arguments.
pub(crate) fn constructor(path: &syn::Path) -> bool {
    let mut segments = path.segments.iter().rev();
    let Some(last) = segments.next() else {
        return false;
    };
    let last_name = last.ident.to_string();
    if last_name.starts_with(|c: char| c.is_ascii_uppercase()) {
        return true;
    }
    if last_name == "once" || last_name == "from_ref" {
        return true;
    }
    let Some(owner) = segments.next() else {
        return false;
    };
    let owner = owner.ident.to_string();
    last_name == "new"
        && matches!(
            owner.as_str(),
            "Box" | "Rc" | "Arc" | "Cell" | "RefCell" | "Mutex" | "RwLock" | "Pin" | "Some"
        )
}

/// Methods whose result is a shared reference into the receiver (`&str`, `&[T]`, `&T`):
/// `.to_owned()` of the result is an owned copy. Those before `deref` give an unsized
/// `&str`, `&[u8]`, `&Path`, ...: a receiver of that type cannot be cloned into a hook.
const REF_RESULT: &[&str] = &[
    "as_str",
    "as_slice",
    "as_path",
    "as_os_str",
    "as_c_str",
    "trim",
    "trim_start",
    "trim_end",
    "trim_matches",
    "trim_start_matches",
    "trim_end_matches",
    "deref",
    "borrow",
    "as_bytes",
];

/// How many of [`REF_RESULT`] (the first) give an unsized referent (`as_bytes` may not:
/// `Uuid::as_bytes` gives a `&[u8; 16]`).
const UNSIZED_RESULTS: usize = 11;

/// Methods whose result is an `Option` of a shared reference into the receiver:
/// `.map(ToOwned::to_owned)` of the result is an owned copy.
const OPTION_REF_RESULT: &[&str] = &["get", "first", "last", "strip_prefix", "strip_suffix"];

/// The shape of a borrowing method's result, for the help's owned copy.
pub(crate) fn shape(method: &str, args: usize) -> Shape {
    if !borrowing(method, args) {
        Shape::Unknown
    } else if let Some(at) = REF_RESULT.iter().position(|m| *m == method) {
        if at < UNSIZED_RESULTS {
            Shape::UnsizedRef
        } else {
            Shape::Ref
        }
    } else if OPTION_REF_RESULT.contains(&method) {
        Shape::OptionRef
    } else {
        Shape::Unknown
    }
}

/// The shape of `value.method(..)` where `value` has `shape` and keeps its borrow.
pub(crate) fn shape_after(shape: Shape, method: &str, args: usize) -> Shape {
    match (shape, method) {
        (Shape::OptionRef, "unwrap" | "expect" | "unwrap_unchecked" | "unwrap_or_default") => {
            Shape::Ref
        }
        (Shape::OptionRef, "filter" | "or" | "xor" | "take" | "clone") => Shape::OptionRef,
        (Shape::Ref | Shape::UnsizedRef, _) if borrowing(method, args) => self::shape(method, args),
        _ => Shape::Unknown,
    }
}

/// Methods that take `&self` (or `&mut self`): their receiver is borrowed, not moved.
const TAKES_REF: &[&str] = &[
    "as_str",
    "len",
    "is_empty",
    "clone",
    "to_owned",
    "to_string",
    "to_vec",
    "to_lowercase",
    "to_uppercase",
    "contains",
    "contains_key",
    "starts_with",
    "ends_with",
    "eq",
    "ne",
    "cmp",
    "partial_cmp",
    "is_some",
    "is_none",
    "is_ok",
    "is_err",
    "push",
    "push_str",
];

/// `x.len()`, `x.as_str()`, `x.iter()`: the receiver is borrowed by the call.
pub(crate) fn takes_ref(method: &str) -> bool {
    TAKES_REF.contains(&method)
        || BORROWING.contains(&method)
        || ITER_OF_REFS.contains(&method)
        || ITER_OF_VALUES.contains(&method)
}

/// Macros that take their arguments by reference (`format!`, `println!`, `tracing`'s).
pub(crate) fn formats(name: &str) -> bool {
    matches!(
        name,
        "format"
            | "format_args"
            | "print"
            | "println"
            | "eprint"
            | "eprintln"
            | "write"
            | "writeln"
            | "panic"
            | "assert"
            | "assert_eq"
            | "assert_ne"
            | "debug_assert"
            | "debug_assert_eq"
            | "debug_assert_ne"
            | "unreachable"
            | "todo"
            | "unimplemented"
            | "trace"
            | "debug"
            | "info"
            | "warn"
            | "error"
            | "event"
    )
}
