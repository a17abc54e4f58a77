//! A property test: random trees of nested transaction blocks, run on `Conn<Memory>`, checked
//! against a simple model of which hooks run, in what order, what the caller gets back and
//! which statements reach the connection.
//!
//! Each block has an outcome (ok, err, panic, and for the async form cancel: its future is
//! dropped mid-body), may be `durable`, and holds hook registrations and child blocks
//! interleaved. A parent ignores a child's `Err`, catches its panic and drops its cancelled
//! future, and goes on. Hooks are ok, failing, robust-failing or panicking.

mod common;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Once};

use common::TestError;
use futures_util::FutureExt;
use oncommit::memory::Memory;
use oncommit::{Conn, Error};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Err,
    Panic,
    /// Async form: the block's future is dropped mid-body. The sync form panics instead.
    Cancel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HookKind {
    Ok,
    Fail,
    RobustFail,
    Panic,
}

#[derive(Debug, Clone)]
enum Item {
    Hook(HookKind, u32),
    Block(Block),
}

#[derive(Debug, Clone)]
struct Block {
    outcome: Outcome,
    durable: bool,
    items: Vec<Item>,
}

/// The payload of every panic the model asks for (silenced in the panic hook).
struct ModelPanic;

fn silence_model_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<ModelPanic>() {
                default(info);
            }
        }));
    });
}

// ---------------------------------------------------------------------------------------------
// Generation

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        4 => Just(Outcome::Ok),
        1 => Just(Outcome::Err),
        1 => Just(Outcome::Panic),
        1 => Just(Outcome::Cancel),
    ]
}

fn hook_kind() -> impl Strategy<Value = HookKind> {
    prop_oneof![
        6 => Just(HookKind::Ok),
        1 => Just(HookKind::Fail),
        1 => Just(HookKind::RobustFail),
        1 => Just(HookKind::Panic),
    ]
}

fn durable() -> impl Strategy<Value = bool> {
    prop::bool::weighted(0.1)
}

fn block() -> impl Strategy<Value = Block> {
    let hook = || hook_kind().prop_map(|kind| Item::Hook(kind, 0));
    let leaf = (outcome(), durable(), prop::collection::vec(hook(), 0..4)).prop_map(
        |(outcome, durable, items)| Block {
            outcome,
            durable,
            items,
        },
    );
    leaf.prop_recursive(5, 48, 6, move |inner| {
        let item = prop_oneof![2 => hook(), 1 => inner.prop_map(Item::Block)];
        (outcome(), durable(), prop::collection::vec(item, 0..6)).prop_map(
            |(outcome, durable, items)| Block {
                outcome,
                durable,
                items,
            },
        )
    })
    .prop_map(|mut root| {
        number(&mut root, &mut 0);
        root
    })
}

/// Gives every hook its registration number (pre-order).
fn number(block: &mut Block, next: &mut u32) {
    for item in &mut block.items {
        match item {
            Item::Hook(_, id) => {
                *id = *next;
                *next += 1;
            }
            Item::Block(child) => number(child, next),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The model

/// The statements `block` makes at `depth` (0 = outermost) and, when it commits (or
/// releases), the hooks it hands to its parent in order. `None`: rolled back or not run.
fn model(block: &Block, depth: usize, out: &mut Vec<String>) -> Option<Vec<(HookKind, u32)>> {
    if block.durable && depth > 0 {
        return None; // Err(ErrorKind::NotOutermost) before BEGIN
    }
    out.push(match depth {
        0 => "BEGIN".to_owned(),
        d => format!("SAVEPOINT oncommit_{d}"),
    });
    let mut kept = Vec::new();
    for item in &block.items {
        match item {
            Item::Hook(kind, id) => kept.push((*kind, *id)),
            Item::Block(child) => kept.extend(model(child, depth + 1, out).unwrap_or_default()),
        }
    }
    if block.outcome == Outcome::Ok {
        out.push(match depth {
            0 => "COMMIT".to_owned(),
            d => format!("RELEASE SAVEPOINT oncommit_{d}"),
        });
        Some(kept)
    } else {
        out.push(match depth {
            0 => "ROLLBACK".to_owned(),
            d => format!("ROLLBACK TO SAVEPOINT oncommit_{d}"),
        });
        None
    }
}

/// What the caller of the outermost block sees.
#[derive(Debug, PartialEq, Eq)]
enum Returned {
    Ok,
    /// Committed; this many non-robust hooks failed.
    HookFailures(usize),
    BodyErr,
    Panicked,
    Cancelled,
}

fn expect(root: &Block, sync: bool) -> (Vec<String>, Returned) {
    let mut statements = Vec::new();
    let returned = match model(root, 0, &mut statements) {
        Some(hooks) => {
            statements.extend(hooks.iter().map(|(_, id)| format!("hook {id}")));
            let failed = hooks
                .iter()
                .filter(|(kind, _)| matches!(kind, HookKind::Fail | HookKind::Panic))
                .count();
            if failed == 0 {
                Returned::Ok
            } else {
                Returned::HookFailures(failed)
            }
        }
        None => match root.outcome {
            Outcome::Err => Returned::BodyErr,
            Outcome::Cancel if !sync => Returned::Cancelled,
            _ => Returned::Panicked,
        },
    };
    // every case ends with an empty transaction proving the connection is usable
    statements.extend(["BEGIN".to_owned(), "COMMIT".to_owned()]);
    (statements, returned)
}

// ---------------------------------------------------------------------------------------------
// Running a tree: sync closure form

/// What a tree runs with: the log, and a token every hook holds, so the test can check that
/// every hook was run or dropped (none leaked in the hook store).
struct Ctx {
    db: Memory,
    token: Arc<()>,
}

fn failing_hook(
    cx: &Ctx,
    kind: HookKind,
    id: u32,
) -> impl FnOnce() -> Result<(), &'static str> + Send + use<> {
    let (db, token) = (cx.db.clone(), cx.token.clone());
    move || {
        let _token = token;
        db.execute(format!("hook {id}"));
        match kind {
            HookKind::Ok => Ok(()),
            HookKind::Fail | HookKind::RobustFail => Err("model hook failed"),
            HookKind::Panic => std::panic::panic_any(ModelPanic),
        }
    }
}

/// Registers a sync hook; each kind is a closure of its own type, so hooks of several types
/// interleave in the store.
fn register_sync(conn: &mut Conn<Memory>, cx: &Ctx, kind: HookKind, id: u32) -> Result<(), Error> {
    let (db, token) = (cx.db.clone(), cx.token.clone());
    match kind {
        HookKind::Ok => conn.on_commit(move || {
            let _token = token;
            db.execute(format!("hook {id}"));
        }),
        HookKind::Fail => conn.on_commit(move || {
            let _token = token;
            db.execute(format!("hook {id}"));
            Err::<(), _>("model hook failed")
        }),
        HookKind::RobustFail => conn.on_commit_robust(move || {
            let _token = token;
            db.execute(format!("hook {id}"));
            Err::<(), _>("model robust hook failed")
        }),
        HookKind::Panic => conn.on_commit(move || -> () {
            let _token = token;
            db.execute(format!("hook {id}"));
            std::panic::panic_any(ModelPanic)
        }),
    }
}

fn run_sync(conn: &mut Conn<Memory>, cx: &Ctx, block: &Block) -> Result<(), TestError> {
    let body = |conn: &mut Conn<Memory>| -> Result<(), TestError> {
        for item in &block.items {
            match item {
                Item::Hook(kind, id) => register_sync(conn, cx, *kind, *id)?,
                Item::Block(child) => {
                    let _ = catch_unwind(AssertUnwindSafe(|| run_sync(conn, cx, child)));
                }
            }
        }
        match block.outcome {
            Outcome::Ok => Ok(()),
            Outcome::Err => Err(TestError::Body("model body error")),
            Outcome::Panic | Outcome::Cancel => std::panic::panic_any(ModelPanic),
        }
    };
    if block.durable {
        conn.durable(body)
    } else {
        conn.atomic(body)
    }
}

fn returned(result: Result<(), TestError>) -> Returned {
    match result {
        Ok(()) => Returned::Ok,
        Err(TestError::Body(_)) => Returned::BodyErr,
        Err(TestError::Oncommit(e)) => {
            assert!(e.committed(), "unexpected oncommit error: {e}");
            Returned::HookFailures(e.hook_failures().len())
        }
    }
}

fn check_sync(root: &Block) -> Result<(), TestCaseError> {
    let cx = Ctx {
        db: Memory::new(),
        token: Arc::new(()),
    };
    let mut conn = Conn::new(cx.db.clone());
    let result = catch_unwind(AssertUnwindSafe(|| run_sync(&mut conn, &cx, root)));
    let got = match result {
        Ok(result) => returned(result),
        Err(_) => Returned::Panicked,
    };
    check_after(root, true, &cx, conn, got)
}

fn check_after(
    root: &Block,
    sync: bool,
    cx: &Ctx,
    mut conn: Conn<Memory>,
    got: Returned,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(conn.depth(), 0);
    conn.atomic(|_| Ok::<_, Error>(())).unwrap();
    let db = &cx.db;
    prop_assert_eq!((conn.depth(), conn.pending_hooks(), db.depth()), (0, 0, 0));
    // every hook ran or was dropped: none is left holding the token
    prop_assert_eq!(Arc::strong_count(&cx.token), 1);
    let (statements, expected) = expect(root, sync);
    prop_assert_eq!(got, expected);
    let log = db.statements();
    prop_assert_eq!(&log, &statements);
    // balanced: every BEGIN/SAVEPOINT was closed
    let count = |prefix: &str| log.iter().filter(|s| s.starts_with(prefix)).count();
    prop_assert_eq!(
        count("BEGIN"),
        count("COMMIT") + count("ROLLBACK") - count("ROLLBACK TO")
    );
    prop_assert_eq!(count("SAVEPOINT"), count("RELEASE") + count("ROLLBACK TO"));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Running a tree: async closure form (async and sync hooks alternate)

type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

async fn register_async(
    conn: &mut Conn<Memory>,
    cx: &Ctx,
    kind: HookKind,
    id: u32,
) -> Result<(), Error> {
    if id.is_multiple_of(2) {
        return register_sync(conn, cx, kind, id);
    }
    let hook = failing_hook(cx, kind, id);
    let hook = move || async move {
        tokio::task::yield_now().await;
        hook()
    };
    match kind {
        HookKind::RobustFail => conn.on_commit_async_robust(hook).await,
        _ => conn.on_commit_async(hook).await,
    }
}

fn run_async<'a>(
    conn: &'a mut Conn<Memory>,
    cx: &'a Ctx,
    block: &'a Block,
) -> LocalBoxFuture<'a, Result<(), TestError>> {
    Box::pin(async move {
        let body = async |conn: &mut Conn<Memory>| -> Result<(), TestError> {
            for item in &block.items {
                match item {
                    Item::Hook(kind, id) => register_async(conn, cx, *kind, *id).await?,
                    Item::Block(child) => match child.outcome {
                        Outcome::Cancel => {
                            let polled_once = run_async(conn, cx, child).now_or_never();
                            assert!(polled_once.is_none() || child.durable);
                        }
                        _ => {
                            let _ = AssertUnwindSafe(run_async(conn, cx, child))
                                .catch_unwind()
                                .await;
                        }
                    },
                }
            }
            match block.outcome {
                Outcome::Ok => Ok(()),
                Outcome::Err => Err(TestError::Body("model body error")),
                Outcome::Panic => std::panic::panic_any(ModelPanic),
                Outcome::Cancel => {
                    std::future::pending::<()>().await;
                    unreachable!("a pending future never resolves")
                }
            }
        };
        if block.durable {
            conn.durable_async(body).await
        } else {
            conn.atomic_async(body).await
        }
    })
}

fn check_async(root: &Block) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let cx = Ctx {
        db: Memory::new(),
        token: Arc::new(()),
    };
    let mut conn = Conn::new(cx.db.clone());
    let got = runtime.block_on(async {
        if root.outcome == Outcome::Cancel {
            // Every statement of Memory and every registration is ready at once, so one poll
            // runs the whole body up to its pending end.
            match run_async(&mut conn, &cx, root).now_or_never() {
                None => Returned::Cancelled,
                Some(result) => returned(result),
            }
        } else {
            match AssertUnwindSafe(run_async(&mut conn, &cx, root))
                .catch_unwind()
                .await
            {
                Ok(result) => returned(result),
                Err(_) => Returned::Panicked,
            }
        }
    });
    check_after(root, false, &cx, conn, got)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn random_block_trees_match_the_model_sync(root in block()) {
        silence_model_panics();
        check_sync(&root)?;
    }

    #[test]
    fn random_block_trees_match_the_model_async(root in block()) {
        silence_model_panics();
        check_async(&root)?;
    }
}

/// The model itself, on a fixed tree (so a bug in the model does not hide behind the
/// generator): docs/design.md semantics 3 and 4 in one picture.
#[test]
fn the_model_on_a_fixed_tree() {
    use HookKind as H;
    let block = |outcome, items| Block {
        outcome,
        durable: false,
        items,
    };
    let mut root = block(
        Outcome::Ok,
        vec![
            Item::Hook(H::Ok, 0),
            Item::Block(block(
                Outcome::Err,
                vec![
                    Item::Hook(H::Ok, 0),
                    Item::Block(block(Outcome::Ok, vec![Item::Hook(H::Ok, 0)])),
                ],
            )),
            Item::Block(block(Outcome::Ok, vec![Item::Hook(H::Fail, 0)])),
            Item::Hook(H::RobustFail, 0),
        ],
    );
    number(&mut root, &mut 0);
    let (statements, returned) = expect(&root, true);
    assert_eq!(
        statements,
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "SAVEPOINT oncommit_2",
            "RELEASE SAVEPOINT oncommit_2",
            "ROLLBACK TO SAVEPOINT oncommit_1",
            "SAVEPOINT oncommit_1",
            "RELEASE SAVEPOINT oncommit_1",
            "COMMIT",
            "hook 0",
            "hook 3",
            "hook 4",
            "BEGIN",
            "COMMIT",
        ]
    );
    assert_eq!(returned, Returned::HookFailures(1));
    silence_model_panics();
    check_sync(&root).unwrap();
    check_async(&root).unwrap();
}
