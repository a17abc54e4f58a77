//! Failing hooks on the `Memory` backend: a failing or panicking hook never stops the others,
//! non-robust failures come back after all ran with `committed()`, robust ones are logged (6).
//!
//! Hooks record themselves in the Memory log (`hook NAME`), so one sequence shows both the
//! statements and when each hook ran.

mod common;

use common::{capture_logs, conn, hooks_ran, note, note_async, site_of};
use oncommit::memory::Memory;
use oncommit::{Conn, Error, ErrorKind};

// ---------------------------------------------------------------------------------------------
// 6. A failing or panicking hook never stops later hooks; non-robust failures come back as
//    Err with committed() == true after all ran; robust failures are only logged.

/// Panics; returns `()` as far as the type checker knows (an `async` block whose body only
/// panics would have the output type `!`).
fn explode(message: &str) {
    panic!("{message}")
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
    assert_eq!(err.kind(), ErrorKind::HooksFailed);
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
    assert!(text.contains(&site_of(file!(), lines_of[0])), "{text}");
    assert!(
        text.contains("boom 2") && text.contains("panicked: boom 3"),
        "{text}"
    );

    // every failure is logged and names the hook's site; robust ones as warnings
    let failed = |line: u32, level: &str, msg: &str| {
        let found = logs.lines_with(&[level, msg, &site_of(file!(), line)]);
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
    assert!(logged[0].contains(&site_of(file!(), line)), "{}", logged[0]);
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
    assert!(
        robust[0].contains(&site_of(file!(), robust_line)),
        "{}",
        robust[0]
    );
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
// Error texts, hook sites, accessors.

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
    assert!(robust[0].contains(&site_of(file!(), line)), "{}", robust[0]);
}
