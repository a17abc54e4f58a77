//! The `Conn` and `Error` API on the `Memory` backend: error texts, hook sites, depth and
//! pending hooks, `into_inner`, `Drop`, auto traits.
//!
//! Hooks record themselves in the Memory log (`hook NAME`), so one sequence shows both the
//! statements and when each hook ran.

mod common;

use common::{TestError, conn, note, note_async, site_of};
use futures_util::FutureExt;
use oncommit::memory::Memory;
use oncommit::{Conn, Error, ErrorKind, Step};

// ---------------------------------------------------------------------------------------------
// Error texts, hook sites, accessors.

#[test]
fn error_display_names_the_step() {
    let (db, mut conn) = conn();
    let step_text = |err: Error| (err.step(), err.to_string());

    db.fail_next_begin();
    let (step, text) = step_text(conn.atomic(|_| Ok::<_, Error>(())).unwrap_err());
    assert_eq!(step, Some(Step::Begin));
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
        assert_eq!((err.kind(), err.step()), (ErrorKind::NotOutermost, None));
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
    assert!(text.contains(&site_of(file!(), line)), "{text}");
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
