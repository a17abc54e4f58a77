//! The ten semantics of DESIGN.md on the `Memory` backend, each its own test, sync (closure
//! form) and async (`atomic_async` / `on_commit_async` on a current-thread runtime); plus
//! durable blocks, foreign transactions, error texts, hook sites and the `Conn` accessors.
//!
//! Hooks record themselves in the Memory log (`hook NAME`), so one sequence shows both the
//! statements and when each hook ran.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use common::{TestError, capture_logs, hooks_ran, note, note_async};
use futures_util::FutureExt;
use oncommit::memory::Memory;
use oncommit::{Conn, Error, Step, SyncBackend};

fn conn() -> (Memory, Conn<Memory>) {
    let db = Memory::new();
    (db.clone(), Conn::new(db))
}

// ---------------------------------------------------------------------------------------------
// 1. Outside any transaction a hook runs immediately.

#[test]
fn s1_outside_a_transaction_a_hook_runs_immediately() {
    let (db, mut conn) = conn();
    conn.on_commit(note(&db, "a")).unwrap();
    assert_eq!(db.statements(), ["hook a"]);
    conn.on_commit_robust(note(&db, "b")).unwrap();
    assert_eq!(db.statements(), ["hook a", "hook b"]);
    assert_eq!(conn.pending_hooks(), 0);
}

#[test]
fn s1_outside_a_transaction_a_failing_hook_fails_at_once() {
    let (_db, mut conn) = conn();
    let err = conn.on_commit(|| Err::<(), _>("queue down")).unwrap_err();
    assert_eq!(err.step(), Step::Hook);
    assert!(err.committed());
    assert_eq!(err.hook_failures().len(), 1);
    assert_eq!(err.hook_failures()[0].error().to_string(), "queue down");
    // robust: only logged
    conn.on_commit_robust(|| Err::<(), _>("metrics down"))
        .unwrap();
}

#[tokio::test]
async fn s1_async_outside_a_transaction_a_hook_runs_immediately() {
    let (db, mut conn) = conn();
    conn.on_commit_async(note_async(&db, "a")).await.unwrap();
    assert_eq!(db.statements(), ["hook a"]);
    conn.on_commit_async_robust(note_async(&db, "b"))
        .await
        .unwrap();
    assert_eq!(db.statements(), ["hook a", "hook b"]);
    let err = conn
        .on_commit_async(|| async { Err::<(), _>("queue down") })
        .await
        .unwrap_err();
    assert!(err.committed());
}

// ---------------------------------------------------------------------------------------------
// 2. Inside, hooks wait for the outermost COMMIT; releasing a savepoint runs nothing.

#[test]
fn s2_hooks_wait_for_the_outermost_commit_and_release_runs_nothing() {
    let (db, mut conn) = conn();
    conn.atomic(|conn| {
        conn.on_commit(note(&db, "a"))?;
        assert!(hooks_ran(&db).is_empty());
        conn.atomic(|conn| {
            conn.on_commit(note(&db, "b"))?;
            conn.atomic(|conn| conn.on_commit(note(&db, "c")))
        })?;
        // both savepoints were released: nothing ran
        assert!(hooks_ran(&db).is_empty());
        assert_eq!(conn.pending_hooks(), 3);
        assert_eq!(conn.depth(), 1);
        db.execute("after release");
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "SAVEPOINT oncommit_2",
            "RELEASE SAVEPOINT oncommit_2",
            "RELEASE SAVEPOINT oncommit_1",
            "after release",
            "COMMIT",
            "hook a",
            "hook b",
            "hook c",
        ]
    );
    assert_eq!((conn.depth(), conn.pending_hooks()), (0, 0));
}

#[tokio::test]
async fn s2_async_hooks_wait_for_the_outermost_commit_and_release_runs_nothing() {
    let (db, mut conn) = conn();
    let log = db.clone();
    conn.atomic_async(async |conn| {
        conn.on_commit_async(note_async(&log, "a")).await?;
        conn.atomic_async(async |conn| {
            conn.on_commit(note(&log, "b"))?;
            conn.on_commit_async(note_async(&log, "c")).await
        })
        .await?;
        assert!(hooks_ran(&log).is_empty());
        log.execute("after release");
        Ok::<_, Error>(())
    })
    .await
    .unwrap();
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "RELEASE SAVEPOINT oncommit_1",
            "after release",
            "COMMIT",
            "hook a",
            "hook b",
            "hook c",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// 3. After COMMIT, hooks run once each, in registration order, across all levels.

#[test]
fn s3_hooks_run_once_in_registration_order_across_levels() {
    let (db, mut conn) = conn();
    conn.atomic(|conn| {
        conn.on_commit(note(&db, "1"))?;
        conn.atomic(|conn| {
            conn.on_commit(note(&db, "2"))?;
            conn.atomic(|conn| conn.on_commit(note(&db, "3")))?;
            conn.on_commit_robust(note(&db, "4"))
        })?;
        conn.on_commit(note(&db, "5"))?;
        conn.atomic(|conn| conn.on_commit(note(&db, "6")))?;
        conn.on_commit(note(&db, "7"))
    })
    .unwrap();
    assert_eq!(
        hooks_ran(&db),
        [
            "hook 1", "hook 2", "hook 3", "hook 4", "hook 5", "hook 6", "hook 7"
        ]
    );
    // once each: a second transaction runs nothing of the first
    conn.atomic(|_| Ok::<_, Error>(())).unwrap();
    assert_eq!(hooks_ran(&db).len(), 7);
}

#[tokio::test]
async fn s3_async_sync_and_async_hooks_run_in_registration_order() {
    let (db, mut conn) = conn();
    let log = db.clone();
    conn.atomic_async(async |conn| {
        conn.on_commit_async(note_async(&log, "1")).await?;
        conn.on_commit(note(&log, "2"))?;
        conn.atomic_async(async |conn| {
            conn.on_commit_async(note_async(&log, "3")).await?;
            conn.on_commit(note(&log, "4"))
        })
        .await?;
        conn.on_commit_async_robust(note_async(&log, "5")).await?;
        conn.on_commit(note(&log, "6"))
    })
    .await
    .unwrap();
    assert_eq!(
        hooks_ran(&db),
        ["hook 1", "hook 2", "hook 3", "hook 4", "hook 5", "hook 6"]
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Rolling back a savepoint discards exactly its hooks (incl. released inner ones); rolling
//    back the outermost discards all.

#[test]
fn s4_savepoint_rollback_discards_exactly_its_hooks() {
    let (db, mut conn) = conn();
    conn.atomic(|conn| {
        conn.on_commit(note(&db, "before"))?;
        let inner = conn.atomic(|conn| {
            conn.on_commit(note(&db, "inner"))?;
            conn.atomic(|conn| conn.on_commit(note(&db, "released")))?;
            conn.on_commit(note(&db, "inner after release"))?;
            assert_eq!(conn.pending_hooks(), 4);
            Err::<(), _>(TestError::Body("inner fails"))
        });
        assert!(matches!(inner, Err(TestError::Body("inner fails"))));
        assert_eq!(conn.pending_hooks(), 1);
        conn.on_commit(note(&db, "after"))?;
        Ok::<_, TestError>(())
    })
    .unwrap();
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "SAVEPOINT oncommit_2",
            "RELEASE SAVEPOINT oncommit_2",
            "ROLLBACK TO SAVEPOINT oncommit_1",
            "COMMIT",
            "hook before",
            "hook after",
        ]
    );
}

#[test]
fn s4_outermost_rollback_discards_every_hook() {
    let (db, mut conn) = conn();
    let result = conn.atomic(|conn| {
        conn.on_commit(note(&db, "a"))?;
        conn.atomic(|conn| conn.on_commit(note(&db, "b")))?;
        conn.on_commit_robust(note(&db, "c"))?;
        Err::<(), _>(TestError::Body("outer fails"))
    });
    assert!(matches!(result, Err(TestError::Body("outer fails"))));
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "RELEASE SAVEPOINT oncommit_1",
            "ROLLBACK",
        ]
    );
    assert_eq!((conn.depth(), conn.pending_hooks()), (0, 0));
}

#[tokio::test]
async fn s4_async_savepoint_rollback_discards_exactly_its_hooks() {
    let (db, mut conn) = conn();
    let log = db.clone();
    conn.atomic_async(async |conn| {
        conn.on_commit_async(note_async(&log, "before")).await?;
        let inner = conn
            .atomic_async(async |conn| {
                conn.on_commit_async(note_async(&log, "inner")).await?;
                conn.atomic_async(async |conn| conn.on_commit(note(&log, "released")))
                    .await?;
                Err::<(), _>(TestError::Body("inner fails"))
            })
            .await;
        assert!(inner.is_err());
        conn.on_commit_async(note_async(&log, "after")).await?;
        Ok::<_, TestError>(())
    })
    .await
    .unwrap();
    assert_eq!(hooks_ran(&db), ["hook before", "hook after"]);

    db.clear();
    let result = conn
        .atomic_async(async |conn| {
            conn.on_commit_async(note_async(&log, "a")).await?;
            Err::<(), _>(TestError::Body("outer fails"))
        })
        .await;
    assert!(result.is_err());
    assert_eq!(db.statements(), ["BEGIN", "ROLLBACK"]);
}

// ---------------------------------------------------------------------------------------------
// 5. If COMMIT fails, no hook runs and the caller gets the error. Also BEGIN, SAVEPOINT,
//    RELEASE and ROLLBACK failures.

#[test]
fn s5_failed_commit_runs_no_hook_and_returns_the_error() {
    let (db, mut conn) = conn();
    let err = conn
        .atomic(|conn| {
            conn.on_commit(note(&db, "a"))?;
            conn.atomic(|conn| conn.on_commit(note(&db, "b")))?;
            db.fail_next_commit();
            conn.on_commit_robust(note(&db, "c"))
        })
        .unwrap_err();
    assert_eq!(err.step(), Step::Commit);
    assert!(!err.committed());
    assert!(err.hook_failures().is_empty());
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "RELEASE SAVEPOINT oncommit_1",
            "COMMIT",
            "ROLLBACK",
        ]
    );
    assert_eq!((conn.depth(), conn.pending_hooks(), db.depth()), (0, 0, 0));
}

#[tokio::test]
async fn s5_async_failed_commit_runs_no_hook_and_returns_the_error() {
    let (db, mut conn) = conn();
    let log = db.clone();
    db.fail_next_commit();
    let err = conn
        .atomic_async(async |conn| conn.on_commit_async(note_async(&log, "a")).await)
        .await
        .unwrap_err();
    assert_eq!(err.step(), Step::Commit);
    assert_eq!(db.statements(), ["BEGIN", "COMMIT", "ROLLBACK"]);
    assert_eq!((conn.depth(), conn.pending_hooks()), (0, 0));
}

#[test]
fn s5_failed_begin_runs_neither_body_nor_hooks() {
    let (db, mut conn) = conn();
    db.fail_next_begin();
    let mut body_ran = false;
    let err = conn
        .atomic(|conn| {
            body_ran = true;
            conn.on_commit(note(&db, "a"))
        })
        .unwrap_err();
    assert!(!body_ran);
    assert_eq!(err.step(), Step::Begin);
    assert_eq!(db.statements(), ["BEGIN"]);
    assert_eq!(conn.depth(), 0);
    // the connection is usable
    conn.atomic(|conn| conn.on_commit(note(&db, "b"))).unwrap();
    assert_eq!(db.statements(), ["BEGIN", "BEGIN", "COMMIT", "hook b"]);
}

#[tokio::test]
async fn s5_async_failed_begin_runs_neither_body_nor_hooks() {
    let (db, mut conn) = conn();
    db.fail_next_begin();
    let mut body_ran = false;
    let err = conn
        .atomic_async(async |_| {
            body_ran = true;
            Ok::<_, Error>(())
        })
        .await
        .unwrap_err();
    assert!(!body_ran);
    assert_eq!(err.step(), Step::Begin);
    assert_eq!(db.statements(), ["BEGIN"]);
}

#[test]
fn s5_failed_savepoint_skips_the_inner_body_and_the_outer_goes_on() {
    let (db, mut conn) = conn();
    conn.atomic(|conn| {
        conn.on_commit(note(&db, "outer"))?;
        db.fail_next_begin();
        let mut inner_ran = false;
        let err = conn
            .atomic(|conn| {
                inner_ran = true;
                conn.on_commit(note(&db, "inner"))
            })
            .unwrap_err();
        assert!(!inner_ran);
        assert_eq!(err.step(), Step::Savepoint);
        assert_eq!(conn.depth(), 1);
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(
        db.statements(),
        ["BEGIN", "SAVEPOINT oncommit_1", "COMMIT", "hook outer"]
    );
}

#[test]
fn s5_failed_release_discards_the_savepoints_hooks() {
    let (db, mut conn) = conn();
    conn.atomic(|conn| {
        conn.on_commit(note(&db, "outer"))?;
        let err = conn
            .atomic(|conn| {
                conn.on_commit(note(&db, "inner"))?;
                db.fail_next_commit();
                Ok::<_, Error>(())
            })
            .unwrap_err();
        assert_eq!(err.step(), Step::Release);
        assert_eq!((conn.depth(), conn.pending_hooks()), (1, 1));
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "RELEASE SAVEPOINT oncommit_1",
            "ROLLBACK TO SAVEPOINT oncommit_1",
            "COMMIT",
            "hook outer",
        ]
    );
}

#[test]
fn s5_failed_rollback_returns_the_body_error_and_logs() {
    let (logs, _guard) = capture_logs();
    let (db, mut conn) = conn();
    db.fail_next_rollback();
    let result = conn.atomic(|conn| {
        conn.on_commit(note(&db, "a"))?;
        Err::<(), _>(TestError::Body("body error"))
    });
    assert!(matches!(result, Err(TestError::Body("body error"))));
    // the failed ROLLBACK is retried without waiting, so the connection leaves the level
    assert_eq!(db.statements(), ["BEGIN", "ROLLBACK", "ROLLBACK"]);
    assert_eq!((conn.depth(), conn.pending_hooks(), db.depth()), (0, 0, 0));
    let logged = logs.lines_with(&["ERROR", "ROLLBACK failed"]);
    assert_eq!(logged.len(), 1, "{}", logs.contents());
    assert!(logged[0].contains("failed as requested"), "{}", logged[0]);
    // usable afterwards, and "a" never runs
    conn.atomic(|conn| conn.on_commit(note(&db, "b"))).unwrap();
    assert_eq!(hooks_ran(&db), ["hook b"]);
}

#[tokio::test]
async fn s5_async_failed_rollback_of_a_savepoint_returns_the_body_error() {
    let (logs, _guard) = capture_logs();
    let (db, mut conn) = conn();
    let log = db.clone();
    conn.atomic_async(async |conn| {
        log.fail_next_rollback();
        let inner = conn
            .atomic_async(async |conn| {
                conn.on_commit(note(&log, "inner"))?;
                Err::<(), _>(TestError::Body("inner"))
            })
            .await;
        assert!(matches!(inner, Err(TestError::Body("inner"))));
        assert_eq!(conn.depth(), 1);
        conn.on_commit(note(&log, "outer"))?;
        Ok::<_, TestError>(())
    })
    .await
    .unwrap();
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "ROLLBACK TO SAVEPOINT oncommit_1",
            "ROLLBACK TO SAVEPOINT oncommit_1",
            "COMMIT",
            "hook outer",
        ]
    );
    assert_eq!(
        logs.lines_with(&["ROLLBACK TO SAVEPOINT failed"]).len(),
        1,
        "{}",
        logs.contents()
    );
}

// ---------------------------------------------------------------------------------------------
// 6. A failing or panicking hook never stops later hooks; non-robust failures come back as
//    Err with committed() == true after all ran; robust failures are only logged.

/// Panics; returns `()` as far as the type checker knows (an `async` block whose body only
/// panics would have the output type `!`).
fn explode(message: &str) {
    panic!("{message}")
}

fn site_of(line: u32) -> String {
    format!("{}:{}:", file!(), line)
}

#[test]
fn s6_failing_and_panicking_hooks_never_stop_later_hooks() {
    let (logs, _guard) = capture_logs();
    let (db, mut conn) = conn();
    let mut lines_of = Vec::new();
    let (fail, panics, robust, robust_panics) = (db.clone(), db.clone(), db.clone(), db.clone());
    let fail = move || {
        fail.execute("hook 2");
        Err::<(), _>("boom 2")
    };
    let panics = move || -> () {
        panics.execute("hook 3");
        panic!("boom 3")
    };
    let robust = move || {
        robust.execute("hook 5");
        Err::<(), _>("boom 5")
    };
    let robust_panics = move || -> () {
        robust_panics.execute("hook 6");
        panic!("boom 6")
    };
    let err = conn
        .atomic(|conn| {
            conn.on_commit(note(&db, "1"))?;
            lines_of.push(line!() + 1);
            conn.on_commit(fail)?;
            lines_of.push(line!() + 1);
            conn.on_commit(panics)?;
            conn.on_commit(note(&db, "4"))?;
            lines_of.push(line!() + 1);
            conn.on_commit_robust(robust)?;
            lines_of.push(line!() + 1);
            conn.on_commit_robust(robust_panics)?;
            conn.on_commit(note(&db, "7"))
        })
        .unwrap_err();
    assert_eq!(
        hooks_ran(&db),
        [
            "hook 1", "hook 2", "hook 3", "hook 4", "hook 5", "hook 6", "hook 7"
        ]
    );
    assert_eq!(err.step(), Step::Hook);
    assert!(err.committed());
    let failures = err.hook_failures();
    assert_eq!(failures.len(), 2, "robust failures are not returned");
    assert_eq!(failures[0].error().to_string(), "boom 2");
    assert_eq!(failures[0].site().line(), lines_of[0]);
    assert_eq!(failures[1].error().to_string(), "panicked: boom 3");
    assert!(
        failures[1]
            .error()
            .downcast_ref::<oncommit::HookPanicked>()
            .is_some_and(|p| p.message() == "boom 3")
    );
    assert_eq!(failures[1].site().line(), lines_of[1]);
    let text = err.to_string();
    assert!(text.starts_with("committed, but 2 hooks failed"), "{text}");
    assert!(text.contains(&site_of(lines_of[0])), "{text}");
    assert!(
        text.contains("boom 2") && text.contains("panicked: boom 3"),
        "{text}"
    );

    // every failure is logged and names the hook's site; robust ones as warnings
    let failed = |line: u32, level: &str, msg: &str| {
        let found = logs.lines_with(&[level, msg, &site_of(line)]);
        assert_eq!(found.len(), 1, "{level} {msg} {line}: {}", logs.contents());
    };
    failed(lines_of[0], "ERROR", "boom 2");
    failed(lines_of[1], "ERROR", "boom 3");
    failed(lines_of[2], "WARN", "boom 5");
    failed(lines_of[3], "WARN", "boom 6");
    assert_eq!(
        logs.lines_with(&["robust after-commit hook failed"]).len(),
        2
    );
}

#[test]
fn s6_robust_failures_only_are_logged_not_returned() {
    let (logs, _guard) = capture_logs();
    let (db, mut conn) = conn();
    let line = conn
        .atomic(|conn| {
            let line = line!() + 1;
            conn.on_commit_robust(|| Err::<(), _>("metrics down"))?;
            conn.on_commit(note(&db, "after"))?;
            Ok::<_, Error>(line)
        })
        .unwrap();
    assert_eq!(hooks_ran(&db), ["hook after"]);
    let logged = logs.lines_with(&["WARN", "metrics down"]);
    assert_eq!(logged.len(), 1, "{}", logs.contents());
    assert!(logged[0].contains(&site_of(line)), "{}", logged[0]);
}

#[tokio::test]
async fn s6_async_failing_and_panicking_hooks_never_stop_later_hooks() {
    let (logs, _guard) = capture_logs();
    let (db, mut conn) = conn();
    let log = db.clone();
    let failing = || async {
        tokio::task::yield_now().await;
        Err::<(), _>("async boom")
    };
    let panicking = || async {
        tokio::task::yield_now().await;
        explode("async panic")
    };
    let panic_making = || -> std::future::Ready<()> { panic!("panic making the future") };
    let mut robust_line = 0;
    let err = conn
        .atomic_async(async |conn| {
            conn.on_commit_async(note_async(&log, "1")).await?;
            conn.on_commit_async(failing).await?;
            conn.on_commit_async(panicking).await?;
            conn.on_commit_async(panic_making).await?;
            conn.on_commit(note(&log, "2"))?;
            conn.on_commit(|| -> () { panic!("sync panic") })?;
            robust_line = line!() + 1;
            conn.on_commit_async_robust(|| async { Err::<(), _>("robust async boom") })
                .await?;
            conn.on_commit_async_robust(|| async { explode("robust async panic") })
                .await?;
            conn.on_commit_async(note_async(&log, "3")).await?;
            Ok::<_, Error>(())
        })
        .await
        .unwrap_err();
    assert_eq!(hooks_ran(&db), ["hook 1", "hook 2", "hook 3"]);
    assert!(err.committed());
    let failures: Vec<String> = err
        .hook_failures()
        .iter()
        .map(|f| f.error().to_string())
        .collect();
    assert_eq!(
        failures,
        [
            "async boom",
            "panicked: async panic",
            "panicked: panic making the future",
            "panicked: sync panic",
        ]
    );
    assert_eq!(
        logs.lines_with(&["ERROR", "after-commit hook failed"])
            .len(),
        4
    );
    let robust = logs.lines_with(&["WARN", "robust after-commit hook failed"]);
    assert_eq!(robust.len(), 2, "{}", logs.contents());
    assert!(robust[0].contains("robust async boom"));
    assert!(robust[1].contains("panicked: robust async panic"));
    assert!(robust[0].contains(&site_of(robust_line)), "{}", robust[0]);
    assert!(robust.iter().all(|l| l.contains(file!())));
}

#[test]
fn s6_an_async_hook_under_a_sync_commit_fails_and_says_why() {
    let (db, mut conn) = conn();
    let err = conn
        .atomic(|conn| {
            // Memory is also an async backend, so an async hook can be registered; the sync
            // COMMIT cannot await it.
            let fut = conn.on_commit_async(note_async(&db, "async"));
            futures_util::FutureExt::now_or_never(fut).expect("deferring is immediate")?;
            conn.on_commit(note(&db, "sync"))
        })
        .unwrap_err();
    assert_eq!(hooks_ran(&db), ["hook sync"]);
    assert!(err.committed());
    let text = err.to_string();
    assert!(text.contains("atomic_async"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// 7. A panic in the body or a dropped future rolls back and discards the hooks; the Conn is
//    usable again.

#[test]
fn s7_panic_in_the_closure_body_rolls_back_and_discards_hooks() {
    let (db, mut conn) = conn();
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        conn.atomic(|conn| {
            conn.on_commit(note(&db, "a"))?;
            conn.atomic(|conn| conn.on_commit(note(&db, "b")))?;
            if conn.depth() == 1 {
                panic!("body panics");
            }
            Ok::<_, Error>(())
        })
    }));
    assert!(panicked.is_err());
    assert_eq!((conn.depth(), conn.pending_hooks(), db.depth()), (0, 0, 0));
    conn.atomic(|conn| conn.on_commit(note(&db, "c"))).unwrap();
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "RELEASE SAVEPOINT oncommit_1",
            "ROLLBACK",
            "BEGIN",
            "COMMIT",
            "hook c",
        ]
    );
}

#[test]
fn s7_panic_in_a_nested_body_rolls_back_only_the_savepoint_when_caught() {
    let (db, mut conn) = conn();
    conn.atomic(|conn| {
        conn.on_commit(note(&db, "before"))?;
        let caught = catch_unwind(AssertUnwindSafe(|| {
            conn.atomic(|conn| {
                conn.on_commit(note(&db, "inner"))?;
                if conn.depth() == 2 {
                    panic!("inner panics");
                }
                Ok::<_, Error>(())
            })
        }));
        assert!(caught.is_err());
        assert_eq!((conn.depth(), conn.pending_hooks()), (1, 1));
        conn.on_commit(note(&db, "after"))
    })
    .unwrap();
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "ROLLBACK TO SAVEPOINT oncommit_1",
            "COMMIT",
            "hook before",
            "hook after",
        ]
    );
}

/// What `#[atomic]` expands into on a sync fn: a `Level` guard that a panicking body drops
/// without finishing.
#[test]
fn s7_a_level_dropped_mid_body_rolls_back_at_the_next_use() {
    use oncommit::__private::v1;
    let (db, mut conn) = conn();
    let panicked = catch_unwind(AssertUnwindSafe(|| -> Result<(), Error> {
        let level = v1::begin(&mut conn, false)?;
        conn.on_commit(note(&db, "a"))?;
        // the macro's `(|| BODY)()`
        let body = || -> Result<(), Error> {
            if db.depth() == 1 {
                panic!("body panics");
            }
            Ok(())
        };
        let result = body();
        v1::finish(&mut conn, level, result)
    }));
    assert!(panicked.is_err());
    // the guard only flagged the level; the Conn already reports it gone
    assert_eq!(conn.depth(), 0);
    conn.atomic(|conn| conn.on_commit(note(&db, "b"))).unwrap();
    assert_eq!(
        db.statements(),
        ["BEGIN", "ROLLBACK", "BEGIN", "COMMIT", "hook b"]
    );
}

#[tokio::test]
async fn s7_async_dropped_future_rolls_back_and_discards_hooks() {
    let (db, mut conn) = conn();
    let log = db.clone();
    let timed_out = tokio::time::timeout(
        Duration::from_millis(20),
        conn.atomic_async(async |conn| {
            conn.on_commit_async(note_async(&log, "a")).await?;
            std::future::pending::<()>().await;
            Ok::<_, Error>(())
        }),
    )
    .await;
    assert!(timed_out.is_err());
    assert_eq!((conn.depth(), conn.pending_hooks()), (0, 1));
    conn.atomic_async(async |conn| conn.on_commit_async(note_async(&log, "b")).await)
        .await
        .unwrap();
    assert_eq!(
        db.statements(),
        ["BEGIN", "ROLLBACK", "BEGIN", "COMMIT", "hook b"]
    );
    assert_eq!(conn.pending_hooks(), 0);
}

#[tokio::test]
async fn s7_async_dropped_nested_future_rolls_back_only_the_savepoint() {
    let (db, mut conn) = conn();
    let log = db.clone();
    conn.atomic_async(async |conn| {
        conn.on_commit(note(&log, "before"))?;
        tokio::select! {
            biased;
            _ = conn.atomic_async(async |conn| {
                conn.on_commit(note(&log, "inner"))?;
                std::future::pending::<()>().await;
                Ok::<_, Error>(())
            }) => unreachable!("the inner body never finishes"),
            () = std::future::ready(()) => {}
        }
        assert_eq!(conn.depth(), 1);
        conn.on_commit(note(&log, "after"))
    })
    .await
    .unwrap();
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "ROLLBACK TO SAVEPOINT oncommit_1",
            "COMMIT",
            "hook before",
            "hook after",
        ]
    );
}

#[tokio::test]
async fn s7_async_panic_in_the_body_rolls_back() {
    let (db, mut conn) = conn();
    let log = db.clone();
    let panicked = AssertUnwindSafe(conn.atomic_async(async |conn| {
        conn.on_commit(note(&log, "a"))?;
        if log.depth() == 1 {
            panic!("async body panics");
        }
        Ok::<_, Error>(())
    }))
    .catch_unwind()
    .await;
    assert!(panicked.is_err());
    conn.atomic_async(async |_| Ok::<_, Error>(()))
        .await
        .unwrap();
    assert_eq!(db.statements(), ["BEGIN", "ROLLBACK", "BEGIN", "COMMIT"]);
}

#[tokio::test]
async fn s7_async_dropped_mid_commit_rolls_back_and_discards_hooks() {
    let (db, mut conn) = conn();
    let log = db.clone();
    db.stall_next_commit();
    let dropped = conn
        .atomic_async(async |conn| conn.on_commit(note(&log, "a")))
        .now_or_never();
    assert!(dropped.is_none());
    conn.atomic_async(async |conn| conn.on_commit(note(&log, "b")))
        .await
        .unwrap();
    assert_eq!(
        db.statements(),
        ["BEGIN", "COMMIT", "ROLLBACK", "BEGIN", "COMMIT", "hook b"]
    );
}

/// Regression: the hooks of a level were dropped before its ROLLBACK was awaited, so a future
/// dropped mid-ROLLBACK left the connection one level deeper than the `Conn` (every later use
/// failed with ForeignTransaction).
#[tokio::test]
async fn s7_async_dropped_mid_rollback_leaves_the_conn_usable() {
    let (db, mut conn) = conn();
    let log = db.clone();
    db.stall_next_rollback();
    let dropped = conn
        .atomic_async(async |conn| {
            conn.on_commit(note(&log, "a"))?;
            Err::<(), _>(TestError::Body("fails"))
        })
        .now_or_never();
    assert!(dropped.is_none());
    assert_eq!(conn.depth(), 0);
    conn.atomic_async(async |conn| conn.on_commit(note(&log, "b")))
        .await
        .unwrap();
    assert_eq!(
        db.statements(),
        ["BEGIN", "ROLLBACK", "ROLLBACK", "BEGIN", "COMMIT", "hook b"]
    );
    assert_eq!(db.depth(), 0);
}

/// Cancelled after COMMIT, while an async hook runs: the data is committed (no ROLLBACK is
/// sent), the hooks still waiting are dropped, and the Conn is usable.
#[tokio::test]
async fn s7_async_dropped_while_hooks_run_after_commit() {
    let (db, mut conn) = conn();
    let log = db.clone();
    let dropped = conn
        .atomic_async(async |conn| {
            conn.on_commit(note(&log, "1"))?;
            conn.on_commit_async(std::future::pending::<()>).await?;
            conn.on_commit(note(&log, "3"))
        })
        .now_or_never();
    assert!(dropped.is_none());
    assert_eq!((conn.depth(), conn.pending_hooks()), (0, 0));
    conn.atomic_async(async |conn| conn.on_commit(note(&log, "next")))
        .await
        .unwrap();
    assert_eq!(
        db.statements(),
        ["BEGIN", "COMMIT", "hook 1", "BEGIN", "COMMIT", "hook next"]
    );
}

// ---------------------------------------------------------------------------------------------
// 8. A hook may open its own connection and transaction: nested work runs depth-first
//    (Django's test_hook_in_hook: [1, 11, 2, 12]).

#[test]
fn s8_a_hook_opening_its_own_transaction_runs_depth_first() {
    let (notified, mut conn) = conn();
    let other = Memory::new();
    let hook = |i: u32, add_hook: bool| {
        let (notified, other) = (notified.clone(), other.clone());
        move || -> Result<(), Error> {
            let mut own = Conn::new(other.clone());
            own.atomic(|own| {
                if add_hook {
                    let (notified, other) = (notified.clone(), other.clone());
                    own.on_commit(move || -> Result<(), Error> {
                        let mut own = Conn::new(other);
                        own.atomic(|_| {
                            notified.execute(format!("hook {}", i + 10));
                            Ok(())
                        })
                    })?;
                }
                notified.execute(format!("hook {i}"));
                Ok(())
            })
        }
    };
    conn.atomic(|conn| {
        conn.on_commit(hook(1, true))?;
        conn.on_commit(hook(2, true))
    })
    .unwrap();
    assert_eq!(
        notified.statements(),
        ["BEGIN", "COMMIT", "hook 1", "hook 11", "hook 2", "hook 12"]
    );
    assert_eq!(
        other.statements(),
        [
            "BEGIN", "COMMIT", "BEGIN", "COMMIT", "BEGIN", "COMMIT", "BEGIN", "COMMIT"
        ]
    );
}

#[tokio::test]
async fn s8_async_a_hook_opening_its_own_transaction_runs_depth_first() {
    let (notified, mut conn) = conn();
    let hook = |i: u32| {
        let notified = notified.clone();
        move || async move {
            let mut own = Conn::new(Memory::new());
            own.atomic_async(async |own| {
                let inner = notified.clone();
                own.on_commit_async(move || async move {
                    tokio::task::yield_now().await;
                    inner.execute(format!("hook {}", i + 10));
                })
                .await?;
                notified.execute(format!("hook {i}"));
                Ok::<_, Error>(())
            })
            .await
        }
    };
    conn.atomic_async(async |conn| {
        conn.on_commit_async(hook(1)).await?;
        conn.on_commit_async(hook(2)).await
    })
    .await
    .unwrap();
    assert_eq!(
        hooks_ran(&notified),
        ["hook 1", "hook 11", "hook 2", "hook 12"]
    );
}

// ---------------------------------------------------------------------------------------------
// 9. The pending hooks of one transaction never leak into the next.

#[test]
fn s9_nothing_leaks_into_the_next_transaction() {
    let (db, mut conn) = conn();
    // after commit
    conn.atomic(|conn| conn.on_commit(note(&db, "committed")))
        .unwrap();
    // after rollback
    let _ = conn.atomic(|conn| {
        conn.on_commit(note(&db, "rolled back"))?;
        Err::<(), _>(TestError::Body("no"))
    });
    // after a failed commit
    db.fail_next_commit();
    let _ = conn.atomic(|conn| conn.on_commit(note(&db, "commit failed")));
    // after a panic
    let _ = catch_unwind(AssertUnwindSafe(|| {
        conn.atomic(|conn| -> Result<(), Error> {
            conn.on_commit(note(&db, "panicked"))?;
            panic!("body panics")
        })
    }));
    assert_eq!(conn.pending_hooks(), 0);
    db.clear();
    conn.atomic(|conn| conn.on_commit(note(&db, "next")))
        .unwrap();
    assert_eq!(db.statements(), ["BEGIN", "COMMIT", "hook next"]);
}

#[tokio::test]
async fn s9_async_nothing_leaks_into_the_next_transaction() {
    let (db, mut conn) = conn();
    let log = db.clone();
    conn.atomic_async(async |conn| conn.on_commit_async(note_async(&log, "committed")).await)
        .await
        .unwrap();
    let _ = conn
        .atomic_async(async |conn| {
            conn.on_commit_async(note_async(&log, "rolled back"))
                .await?;
            Err::<(), _>(TestError::Body("no"))
        })
        .await;
    let _ = conn
        .atomic_async(async |conn| {
            conn.on_commit_async(note_async(&log, "cancelled")).await?;
            std::future::pending::<()>().await;
            Ok::<_, Error>(())
        })
        .now_or_never();
    db.clear();
    conn.atomic_async(async |conn| conn.on_commit_async(note_async(&log, "next")).await)
        .await
        .unwrap();
    assert_eq!(
        db.statements(),
        ["ROLLBACK", "BEGIN", "COMMIT", "hook next"]
    );
}

// ---------------------------------------------------------------------------------------------
// 10. Value capture at the closure level: a hook sees the value moved into it, not what the
//     variable holds later.

#[test]
fn s10_a_hook_sees_the_value_moved_into_it() {
    let (db, mut conn) = conn();
    conn.atomic(|conn| {
        let mut user_id = 1;
        let log = db.clone();
        conn.on_commit(move || log.execute(format!("hook user {user_id}")))?;
        user_id = 2;
        let log = db.clone();
        conn.on_commit(move || log.execute(format!("hook user {user_id}")))?;
        let mut email = String::from("ann@example.com");
        let log = db.clone();
        let moved = email.clone();
        conn.on_commit(move || log.execute(format!("hook email {moved}")))?;
        email.replace_range(.., "bob@example.com");
        for id in [10, 11, 12] {
            let log = db.clone();
            conn.on_commit(move || log.execute(format!("hook loop {id}")))?;
        }
        assert_eq!(email, "bob@example.com");
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(
        hooks_ran(&db),
        [
            "hook user 1",
            "hook user 2",
            "hook email ann@example.com",
            "hook loop 10",
            "hook loop 11",
            "hook loop 12",
        ]
    );
}

#[tokio::test]
async fn s10_async_a_hook_sees_the_value_moved_into_it() {
    let (db, mut conn) = conn();
    let log = db.clone();
    conn.atomic_async(async |conn| {
        let mut user_id = 1;
        let hook = |log: Memory, user_id: u32| {
            move || async move {
                tokio::task::yield_now().await;
                log.execute(format!("hook user {user_id}"));
            }
        };
        conn.on_commit_async(hook(log.clone(), user_id)).await?;
        user_id = 2;
        let moved = user_id;
        conn.on_commit_async(move || {
            let log = log.clone();
            async move { log.execute(format!("hook user {moved}")) }
        })
        .await?;
        user_id = 3;
        assert_eq!(user_id, 3);
        Ok::<_, Error>(())
    })
    .await
    .unwrap();
    assert_eq!(hooks_ran(&db), ["hook user 1", "hook user 2"]);
}

/// A guard that is leaked (never finished, never dropped) inside an outer level: the outer
/// finish rolls the inner level back first and discards its hooks.
#[test]
fn a_leaked_inner_level_is_rolled_back_when_the_outer_finishes() {
    use oncommit::__private::v1;
    let (db, mut conn) = conn();
    let outer = v1::begin(&mut conn, false).unwrap();
    conn.on_commit(note(&db, "outer")).unwrap();
    let inner = v1::begin(&mut conn, false).unwrap();
    conn.on_commit(note(&db, "inner")).unwrap();
    std::mem::forget(inner);
    v1::finish(&mut conn, outer, Ok::<_, Error>(())).unwrap();
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "ROLLBACK TO SAVEPOINT oncommit_1",
            "COMMIT",
            "hook outer",
        ]
    );
    assert_eq!((conn.depth(), conn.pending_hooks(), db.depth()), (0, 0, 0));
}

// ---------------------------------------------------------------------------------------------
// Durable blocks.

#[test]
fn durable_outermost_commits() {
    let (db, mut conn) = conn();
    conn.durable(|conn| conn.on_commit(note(&db, "a"))).unwrap();
    assert_eq!(db.statements(), ["BEGIN", "COMMIT", "hook a"]);
}

#[test]
fn durable_nested_returns_err_without_running_the_body() {
    let (db, mut conn) = conn();
    conn.atomic(|conn| {
        let mut body_ran = false;
        let err = conn
            .durable(|conn| {
                body_ran = true;
                conn.on_commit(note(&db, "durable"))
            })
            .unwrap_err();
        assert!(!body_ran);
        assert_eq!(err.step(), Step::Durable);
        assert!(!err.committed());
        assert!(err.to_string().contains("outermost"), "{err}");
        conn.on_commit(note(&db, "outer"))
    })
    .unwrap();
    assert_eq!(db.statements(), ["BEGIN", "COMMIT", "hook outer"]);
}

#[tokio::test]
async fn durable_async_nested_returns_err_without_running_the_body() {
    let (db, mut conn) = conn();
    conn.atomic_async(async |conn| {
        let mut body_ran = false;
        let err = conn
            .durable_async(async |_| {
                body_ran = true;
                Ok::<_, Error>(())
            })
            .await
            .unwrap_err();
        assert!(!body_ran);
        assert_eq!(err.step(), Step::Durable);
        Ok::<_, Error>(())
    })
    .await
    .unwrap();
    conn.durable_async(async |_| Ok::<_, Error>(()))
        .await
        .unwrap();
    assert_eq!(db.statements(), ["BEGIN", "COMMIT", "BEGIN", "COMMIT"]);
}

// ---------------------------------------------------------------------------------------------
// Foreign transactions.

fn foreign() -> (Memory, Conn<Memory>) {
    let mut db = Memory::new();
    SyncBackend::begin(&mut db).unwrap();
    (db.clone(), Conn::new(db))
}

#[test]
fn foreign_transaction_refuses_begin_and_on_commit() {
    let (db, mut conn) = foreign();
    let mut body_ran = false;
    let err = conn
        .atomic(|_| {
            body_ran = true;
            Ok::<_, Error>(())
        })
        .unwrap_err();
    assert!(!body_ran);
    assert_eq!(err.step(), Step::ForeignTransaction);
    let err = conn.on_commit(note(&db, "a")).unwrap_err();
    assert_eq!(err.step(), Step::ForeignTransaction);
    let err = conn.on_commit_robust(note(&db, "b")).unwrap_err();
    assert_eq!(err.step(), Step::ForeignTransaction);
    assert!(!err.committed());
    let text = err.to_string();
    assert!(text.contains("did not open"), "{text}");
    assert!(text.contains("connection depth 1"), "{text}");
    assert_eq!(db.statements(), ["BEGIN"]);
    assert_eq!(conn.pending_hooks(), 0);
}

#[tokio::test]
async fn foreign_transaction_refuses_async_begin_and_on_commit() {
    let (db, mut conn) = foreign();
    let err = conn
        .atomic_async(async |_| Ok::<_, Error>(()))
        .await
        .unwrap_err();
    assert_eq!(err.step(), Step::ForeignTransaction);
    let err = conn
        .on_commit_async(note_async(&db, "a"))
        .await
        .unwrap_err();
    assert_eq!(err.step(), Step::ForeignTransaction);
    assert_eq!(db.statements(), ["BEGIN"]);
}

// ---------------------------------------------------------------------------------------------
// Error texts, hook sites, accessors.

#[test]
fn error_display_names_the_step() {
    let (db, mut conn) = conn();
    let step_text = |err: Error| (err.step(), err.to_string());

    db.fail_next_begin();
    let (step, text) = step_text(conn.atomic(|_| Ok::<_, Error>(())).unwrap_err());
    assert_eq!(step, Step::Begin);
    assert_eq!(text, "BEGIN failed at transaction depth 1");

    db.fail_next_commit();
    let err = conn.atomic(|_| Ok::<_, Error>(())).unwrap_err();
    let source = std::error::Error::source(&err).expect("the backend's error is the source");
    assert_eq!(
        source.to_string(),
        "memory backend: `COMMIT` failed as requested"
    );
    assert_eq!(err.to_string(), "COMMIT failed at transaction depth 1");

    conn.atomic(|conn| {
        db.fail_next_begin();
        let err = conn.atomic(|_| Ok::<_, Error>(())).unwrap_err();
        assert_eq!(err.to_string(), "SAVEPOINT failed at transaction depth 2");
        db.fail_next_commit();
        let err = conn.atomic(|_| Ok::<_, Error>(())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "RELEASE SAVEPOINT failed at transaction depth 2"
        );
        let err = conn.durable(|_| Ok::<_, Error>(())).unwrap_err();
        assert!(err.to_string().starts_with("a durable block"), "{err}");
        Ok::<_, Error>(())
    })
    .unwrap();

    for (step, text) in [
        (Step::Begin, "BEGIN"),
        (Step::Savepoint, "SAVEPOINT"),
        (Step::Commit, "COMMIT"),
        (Step::Release, "RELEASE SAVEPOINT"),
        (Step::Rollback, "ROLLBACK"),
        (Step::RollbackToSavepoint, "ROLLBACK TO SAVEPOINT"),
        (Step::Durable, "durable block"),
        (Step::ForeignTransaction, "foreign transaction"),
        (Step::Hook, "after-commit hook"),
    ] {
        assert_eq!(step.to_string(), text);
    }
}

#[test]
fn error_display_of_one_failed_hook_names_its_site() {
    let (_db, mut conn) = conn();
    let mut line = 0;
    let err = conn
        .atomic(|conn| {
            line = line!() + 1;
            conn.on_commit(|| Err::<(), _>("queue down"))
        })
        .unwrap_err();
    assert_eq!(err.hook_failures()[0].site().line(), line);
    let text = err.to_string();
    assert!(text.starts_with("committed, but hook at "), "{text}");
    assert!(text.contains(&site_of(line)), "{text}");
    assert!(text.ends_with("failed: queue down"), "{text}");
    assert_eq!(
        err.hook_failures()[0].to_string(),
        format!("hook {} failed: queue down", err.hook_failures()[0].site())
    );
}

#[test]
fn hook_site_of_a_closure_is_the_registration() {
    let (_db, mut conn) = conn();
    let (result, captured) = oncommit::testing::capture(&mut conn, |conn| {
        conn.atomic(|conn| {
            let line = line!() + 1;
            conn.on_commit(|| ())?;
            conn.on_commit_robust(|| ())?;
            Ok::<_, Error>(line)
        })
    });
    let line = result.unwrap();
    let hooks = captured.hooks();
    let site = hooks[0].site();
    assert_eq!(site.call(), None);
    assert_eq!(site.file(), file!());
    assert_eq!(site.line(), line);
    assert!(site.column() > 0);
    assert_eq!(
        site.to_string(),
        format!("at {}:{}:{}", file!(), line, site.column())
    );
    assert!(!hooks[0].is_robust() && !hooks[0].is_async());
    assert!(hooks[1].is_robust());
    assert_eq!(hooks[1].site().line(), line + 1);
    assert!(format!("{:?}", hooks[0]).contains("HookSite"));
}

#[test]
fn depth_and_pending_hooks_follow_the_levels() {
    let (db, mut conn) = conn();
    assert_eq!(
        (conn.depth(), conn.pending_hooks(), conn.in_transaction()),
        (0, 0, false)
    );
    conn.atomic(|conn| {
        assert_eq!(
            (conn.depth(), conn.pending_hooks(), conn.in_transaction()),
            (1, 0, true)
        );
        conn.on_commit(note(&db, "a"))?;
        assert_eq!(conn.pending_hooks(), 1);
        let _ = conn.atomic(|conn| {
            assert_eq!(conn.depth(), 2);
            conn.on_commit(note(&db, "b"))?;
            conn.atomic(|conn| {
                assert_eq!(conn.depth(), 3);
                conn.on_commit(note(&db, "c"))
            })?;
            assert_eq!((conn.depth(), conn.pending_hooks()), (2, 3));
            Err::<(), _>(TestError::Body("drop b and c"))
        });
        assert_eq!((conn.depth(), conn.pending_hooks()), (1, 1));
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!((conn.depth(), conn.pending_hooks()), (0, 0));
    assert!(format!("{conn:?}").contains("depth: 0"));
}

#[test]
fn into_inner_rolls_back_abandoned_levels() {
    use oncommit::__private::v1;
    let (db, mut conn) = conn();
    let outer = v1::begin(&mut conn, false).unwrap();
    let inner = v1::begin(&mut conn, false).unwrap();
    conn.on_commit(note(&db, "a")).unwrap();
    drop(inner);
    drop(outer);
    let memory = conn.into_inner();
    assert_eq!(memory.depth(), 0);
    assert_eq!(
        memory.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "ROLLBACK TO SAVEPOINT oncommit_1",
            "ROLLBACK",
        ]
    );
}

#[tokio::test]
async fn into_inner_rolls_back_a_cancelled_block() {
    let (db, mut conn) = conn();
    let cancelled = conn
        .atomic_async(async |_| {
            std::future::pending::<()>().await;
            Ok::<_, Error>(())
        })
        .now_or_never();
    assert!(cancelled.is_none());
    let memory = conn.into_inner();
    assert_eq!(memory.depth(), 0);
    assert_eq!(db.statements(), ["BEGIN", "ROLLBACK"]);
}

#[test]
fn dropping_the_conn_rolls_back_abandoned_levels() {
    use oncommit::__private::v1;
    let (db, mut conn) = conn();
    drop(v1::begin(&mut conn, false).unwrap());
    drop(conn);
    assert_eq!(db.statements(), ["BEGIN", "ROLLBACK"]);
    assert_eq!(db.depth(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conn_future_is_send() {
    let (db, mut conn) = conn();
    let hook = note_async(&db, "spawned");
    let handle = tokio::spawn(async move {
        conn.atomic_async(async |conn| conn.on_commit_async(hook).await)
            .await
            .map(|()| conn)
    });
    let conn = handle.await.unwrap().unwrap();
    assert_eq!(conn.depth(), 0);
    assert_eq!(db.statements(), ["BEGIN", "COMMIT", "hook spawned"]);
}

/// The contract's auto traits: errors cross threads, a `Conn` moves between threads, sites
/// are plain values.
#[test]
fn public_types_have_the_contracts_auto_traits() {
    fn error<E: std::error::Error + Send + Sync + 'static>() {}
    fn send<T: Send>() {}
    fn copy<T: Copy + Send + Sync>() {}
    error::<Error>();
    error::<oncommit::HookPanicked>();
    error::<oncommit::memory::InjectedFailure>();
    send::<Conn<Memory>>();
    send::<oncommit::Hook>();
    send::<oncommit::__private::v1::Level>();
    copy::<oncommit::HookSite>();
    copy::<Step>();
}

/// A hook may return any `Result<_, E>` with `E` convertible into a boxed error; its error
/// comes back as the failure's source, downcastable.
#[test]
fn a_hook_error_of_the_users_type_is_kept() {
    #[derive(Debug, PartialEq)]
    struct QueueFull(u32);
    impl std::fmt::Display for QueueFull {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "queue full ({} waiting)", self.0)
        }
    }
    impl std::error::Error for QueueFull {}

    let (_db, mut conn) = conn();
    let err = conn
        .atomic(|conn| conn.on_commit(|| Err::<u64, _>(QueueFull(7))))
        .unwrap_err();
    let failure = &err.hook_failures()[0];
    assert_eq!(
        failure.error().downcast_ref::<QueueFull>(),
        Some(&QueueFull(7))
    );
    assert!(
        err.to_string().ends_with("failed: queue full (7 waiting)"),
        "{err}"
    );
}

/// Registers through a `#[track_caller]` helper: every hook gets the helper's caller as its
/// site, robust or not.
#[track_caller]
fn register(conn: &mut Conn<Memory>, db: &Memory, robust: bool, i: u32) -> Result<(), Error> {
    let db = db.clone();
    let hook = move || {
        db.execute(format!("hook {i}"));
        Err::<(), _>(format!("fail {i}"))
    };
    if robust {
        conn.on_commit_robust(hook)
    } else {
        conn.on_commit(hook)
    }
}

/// Hooks of one site and one closure type whose robust flags alternate: each keeps its own
/// flag (the hook store groups hooks by site and type).
#[test]
fn s6_same_site_hooks_keep_their_own_robust_flag() {
    let (logs, _guard) = capture_logs();
    let (db, mut conn) = conn();
    let mut line = 0;
    let err = conn
        .atomic(|conn| {
            for i in 0..6 {
                line = line!() + 1;
                register(conn, &db, i % 2 == 0, i)?;
            }
            conn.atomic(|conn| register(conn, &db, false, 6))?;
            register(conn, &db, true, 7)
        })
        .unwrap_err();
    assert_eq!(
        hooks_ran(&db),
        (0..8).map(|i| format!("hook {i}")).collect::<Vec<_>>()
    );
    let failures: Vec<(String, u32)> = err
        .hook_failures()
        .iter()
        .map(|f| (f.error().to_string(), f.site().line()))
        .collect();
    assert_eq!(
        failures,
        [
            ("fail 1".to_owned(), line),
            ("fail 3".to_owned(), line),
            ("fail 5".to_owned(), line),
            ("fail 6".to_owned(), line + 2),
        ]
    );
    let robust = logs.lines_with(&["WARN", "robust after-commit hook failed"]);
    assert_eq!(robust.len(), 4, "{}", logs.contents());
    for (logged, i) in robust.iter().zip([0, 2, 4, 7]) {
        assert!(logged.contains(&format!("fail {i}")), "{logged}");
    }
    assert!(robust[0].contains(&site_of(line)), "{}", robust[0]);
}
