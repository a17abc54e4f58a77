//! When hooks run, on the `Memory` backend: at once outside a transaction (1), after the
//! outermost COMMIT and never at a RELEASE (2), once each in registration order (3), a hook's
//! own transaction depth-first (8), with the values moved in at registration (10).
//!
//! Hooks record themselves in the Memory log (`hook NAME`), so one sequence shows both the
//! statements and when each hook ran.

mod common;

use common::{conn, hooks_ran, note, note_async};
use oncommit::memory::Memory;
use oncommit::{Conn, Error, ErrorKind};

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
    assert_eq!(err.kind(), ErrorKind::HooksFailed);
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
