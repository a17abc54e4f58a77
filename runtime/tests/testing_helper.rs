//! `oncommit::testing::capture` / `capture_async`: Django's `captureOnCommitCallbacks`.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::{TestError, hooks_ran, note, note_async};
use futures_util::FutureExt;
use oncommit::__private::v1;
use oncommit::memory::Memory;
use oncommit::testing::{capture, capture_async};
use oncommit::{Conn, Error, ErrorKind};

fn conn() -> (Memory, Conn<Memory>) {
    let db = Memory::new();
    (db.clone(), Conn::new(db))
}

#[test]
fn capture_returns_the_hooks_that_would_have_run_without_running_them() {
    let (db, mut conn) = conn();
    let (result, captured) = capture(&mut conn, |conn| {
        conn.atomic(|conn| {
            conn.on_commit(note(&db, "a"))?;
            conn.atomic(|conn| conn.on_commit_robust(note(&db, "b")))?;
            Ok::<_, Error>(42)
        })
    });
    assert_eq!(result.unwrap(), 42);
    assert_eq!(captured.len(), 2);
    assert!(!captured.is_empty());
    assert!(!captured.hooks()[0].is_robust());
    assert!(captured.hooks()[1].is_robust());
    // committed, nothing ran
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "RELEASE SAVEPOINT oncommit_1",
            "COMMIT"
        ]
    );
    assert_eq!(conn.pending_hooks(), 0);
    // `.run()` runs them, in order
    captured.run().unwrap();
    assert_eq!(hooks_ran(&db), ["hook a", "hook b"]);
}

#[test]
fn capture_outside_a_transaction_holds_the_immediate_hook() {
    let (db, mut conn) = conn();
    let (result, captured) = capture(&mut conn, |conn| conn.on_commit(note(&db, "now")));
    result.unwrap();
    assert!(hooks_ran(&db).is_empty());
    assert_eq!(captured.len(), 1);
    captured.run().unwrap();
    assert_eq!(hooks_ran(&db), ["hook now"]);
}

#[test]
fn capture_leaves_out_rolled_back_hooks() {
    let (db, mut conn) = conn();
    let (_, captured) = capture(&mut conn, |conn| {
        conn.atomic(|conn| {
            conn.on_commit(note(&db, "kept"))?;
            let _ = conn.atomic(|conn| {
                conn.on_commit(note(&db, "savepoint rolled back"))?;
                Err::<(), _>(TestError::Body("no"))
            });
            Ok::<_, Error>(())
        })
        .unwrap();
        let _ = conn.atomic(|conn| {
            conn.on_commit(note(&db, "rolled back"))?;
            Err::<(), _>(TestError::Body("no"))
        });
    });
    assert_eq!(captured.len(), 1);
    captured.run().unwrap();
    assert_eq!(hooks_ran(&db), ["hook kept"]);
}

#[test]
fn captured_run_reports_failures_after_running_every_hook() {
    let (db, mut conn) = conn();
    let (_, captured) = capture(&mut conn, |conn| {
        conn.atomic(|conn| {
            conn.on_commit(|| Err::<(), _>("first fails"))?;
            conn.on_commit(note(&db, "second"))
        })
    });
    let err = captured.run().unwrap_err();
    assert!(err.committed());
    assert_eq!(err.kind(), ErrorKind::HooksFailed);
    assert_eq!(err.hook_failures()[0].error().to_string(), "first fails");
    assert_eq!(hooks_ran(&db), ["hook second"]);
}

#[test]
fn capture_inside_an_open_transaction_takes_the_hooks_registered_during_it() {
    // A test's own transaction, never committed in Django's TestCase: the hooks the code
    // under test registers come out of it, in order; earlier hooks stay pending.
    let (db, mut conn) = conn();
    conn.atomic(|conn| {
        conn.on_commit(note(&db, "before"))?;
        let (result, captured) = capture(conn, |conn| {
            conn.on_commit(note(&db, "inside"))?;
            conn.atomic(|conn| conn.on_commit_robust(note(&db, "released savepoint")))?;
            let rolled_back = conn.atomic(|conn| {
                conn.on_commit(note(&db, "rolled back"))?;
                Err::<(), _>(TestError::Body("the savepoint's body fails"))
            });
            assert!(matches!(rolled_back, Err(TestError::Body(_))));
            conn.on_commit(note(&db, "last"))
        });
        result?;
        assert_eq!(captured.len(), 3);
        assert!(captured.hooks()[1].is_robust());
        assert_eq!(conn.pending_hooks(), 1);
        assert!(hooks_ran(&db).is_empty());
        captured.run()?;
        assert_eq!(
            hooks_ran(&db),
            ["hook inside", "hook released savepoint", "hook last"]
        );
        Ok::<_, Error>(())
    })
    .unwrap();
    // the outer COMMIT runs only the hook registered before the capture
    assert_eq!(
        hooks_ran(&db),
        [
            "hook inside",
            "hook released savepoint",
            "hook last",
            "hook before"
        ]
    );
}

#[test]
fn nested_captures_inside_a_transaction_each_take_their_own_hooks() {
    let (db, mut conn) = conn();
    conn.atomic(|conn| {
        let ((), outer) = capture(conn, |conn| {
            conn.on_commit(note(&db, "outer 1")).unwrap();
            let ((), inner) = capture(conn, |conn| conn.on_commit(note(&db, "inner")).unwrap());
            inner.run().unwrap();
            conn.on_commit(note(&db, "outer 2")).unwrap();
        });
        assert_eq!(conn.pending_hooks(), 0);
        outer.run()
    })
    .unwrap();
    assert_eq!(
        hooks_ran(&db),
        ["hook inner", "hook outer 1", "hook outer 2"]
    );
}

#[tokio::test]
async fn capture_async_inside_an_open_transaction_takes_the_hooks_too() {
    let (db, mut conn) = conn();
    let log = db.clone();
    conn.atomic_async(async |conn| {
        let ((), captured) = capture_async(conn, async |conn| {
            conn.on_commit_async(note_async(&log, "async inside"))
                .await
                .unwrap();
        })
        .await;
        assert_eq!(captured.len(), 1);
        assert_eq!(conn.pending_hooks(), 0);
        captured.run_async().await
    })
    .await
    .unwrap();
    assert_eq!(hooks_ran(&db), ["hook async inside"]);
}

#[test]
fn a_panic_inside_capture_in_a_transaction_leaves_its_hooks_pending() {
    let (db, mut conn) = conn();
    conn.atomic(|conn| {
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            capture(conn, |conn| {
                conn.on_commit(note(&db, "registered before the panic"))
                    .unwrap();
                panic!("test body panics");
            })
        }));
        assert!(panicked.is_err());
        assert_eq!(conn.pending_hooks(), 1);
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(hooks_ran(&db), ["hook registered before the panic"]);
}

#[test]
fn nested_captures_each_get_their_own_hooks() {
    let (db, mut conn) = conn();
    let ((), outer) = capture(&mut conn, |conn| {
        conn.on_commit(note(&db, "outer 1")).unwrap();
        let ((), inner) = capture(conn, |conn| {
            conn.atomic(|conn| conn.on_commit(note(&db, "inner")))
                .unwrap();
        });
        assert_eq!(inner.len(), 1);
        inner.run().unwrap();
        conn.on_commit(note(&db, "outer 2")).unwrap();
    });
    assert_eq!(hooks_ran(&db), ["hook inner"]);
    assert_eq!(outer.len(), 2);
    outer.run().unwrap();
    assert_eq!(
        hooks_ran(&db),
        ["hook inner", "hook outer 1", "hook outer 2"]
    );
    // after the captures, hooks run again
    conn.on_commit(note(&db, "free")).unwrap();
    assert_eq!(hooks_ran(&db).last().unwrap(), "hook free");
}

#[test]
fn calls_gives_the_source_text_of_macro_hooks_and_none_for_closures() {
    static SITE: v1::StaticSite = v1::StaticSite {
        call: "mailer.send(user_id)",
        location: v1::Location::caller(),
    };
    let (db, mut conn) = conn();
    let (result, captured) = capture(&mut conn, |conn| {
        conn.atomic(|conn| {
            v1::defer(
                conn,
                v1::plain_sync_hook(&SITE, false, note(&db, "macro")),
                None,
            );
            conn.on_commit(note(&db, "closure"))
        })
    });
    result.unwrap();
    assert_eq!(captured.calls(), [Some("mailer.send(user_id)"), None]);
    let site = captured.hooks()[0].site();
    assert_eq!(site.call(), Some("mailer.send(user_id)"));
    assert!(
        site.to_string().starts_with("`mailer.send(user_id)` at "),
        "{site}"
    );
    captured.run().unwrap();
    assert_eq!(hooks_ran(&db), ["hook macro", "hook closure"]);
}

#[test]
fn a_panic_inside_capture_stops_the_capture() {
    // Regression: the Conn stayed in capture mode after a panic in the body, so every later
    // hook was silently swallowed.
    let (db, mut conn) = conn();
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        capture(&mut conn, |conn| {
            conn.on_commit(note(&db, "captured")).unwrap();
            panic!("test body panics");
        })
    }));
    assert!(panicked.is_err());
    conn.atomic(|conn| conn.on_commit(note(&db, "after")))
        .unwrap();
    assert_eq!(hooks_ran(&db), ["hook after"]);
}

#[test]
fn captured_run_fails_an_async_hook() {
    let (db, mut conn) = conn();
    let (_, captured) = capture(&mut conn, |conn| {
        conn.on_commit_async(note_async(&db, "async"))
            .now_or_never()
            .unwrap()
    });
    assert!(captured.hooks()[0].is_async());
    let err = captured.run().unwrap_err();
    assert!(err.to_string().contains("async"), "{err}");
    assert!(hooks_ran(&db).is_empty());
}

#[tokio::test]
async fn capture_async_returns_hooks_and_run_async_awaits_them_in_order() {
    let (db, mut conn) = conn();
    let log = db.clone();
    let (result, captured) = capture_async(&mut conn, async |conn| {
        conn.atomic_async(async |conn| {
            conn.on_commit_async(note_async(&log, "1")).await?;
            conn.on_commit(note(&log, "2"))?;
            conn.atomic_async(async |conn| conn.on_commit_async(note_async(&log, "3")).await)
                .await
        })
        .await
    })
    .await;
    result.unwrap();
    assert_eq!(captured.len(), 3);
    assert_eq!(captured.calls(), [None, None, None]);
    assert!(hooks_ran(&db).is_empty());
    captured.run_async().await.unwrap();
    assert_eq!(hooks_ran(&db), ["hook 1", "hook 2", "hook 3"]);
}

#[tokio::test]
async fn a_dropped_capture_async_future_stops_the_capture() {
    let (db, mut conn) = conn();
    let log = db.clone();
    let dropped = capture_async(&mut conn, async |conn| {
        conn.on_commit(note(&log, "captured")).unwrap();
        std::future::pending::<()>().await;
    })
    .now_or_never();
    assert!(dropped.is_none());
    conn.on_commit_async(note_async(&db, "after"))
        .await
        .unwrap();
    assert_eq!(hooks_ran(&db), ["hook after"]);
}

/// With the macros: `calls()` gives each `enqueue!`'s source text, and the captured hooks
/// hold the values of the iteration that registered them.
#[derive(Clone, Default)]
struct Mailer(std::sync::Arc<std::sync::Mutex<Vec<u32>>>);

impl Mailer {
    fn send(&self, user_id: u32) {
        self.0.lock().unwrap().push(user_id);
    }

    fn sent(&self) -> Vec<u32> {
        self.0.lock().unwrap().clone()
    }
}

#[oncommit::atomic]
fn sign_up(conn: &mut Conn<Memory>, mailer: &Mailer, users: Vec<u32>) -> Result<(), Error> {
    for user_id in users {
        conn.execute(format!("INSERT {user_id}"));
        oncommit::enqueue!(mailer.send(user_id));
    }
    Ok(())
}

#[test]
fn capture_of_macro_hooks_gives_their_source_text() {
    let (db, mut conn) = conn();
    let mailer = Mailer::default();
    let (result, captured) = capture(&mut conn, |conn| sign_up(conn, &mailer, vec![1, 2, 3]));
    result.unwrap();
    assert_eq!(captured.calls(), [Some("mailer.send(user_id)"); 3]);
    assert_eq!(captured.hooks()[0].site().file(), file!());
    assert!(mailer.sent().is_empty());
    assert_eq!(
        db.statements(),
        ["BEGIN", "INSERT 1", "INSERT 2", "INSERT 3", "COMMIT"]
    );
    captured.run().unwrap();
    assert_eq!(mailer.sent(), [1, 2, 3]);
}

/// A job argument without `Debug`: its text is its type's name.
struct Opaque;

fn deliver(_to: String, _attempt: Option<u8>, _extra: Opaque) {}

async fn deliver_later(_user_id: u32) {}

/// `Hook::args`: the `Debug` text of each captured argument, per hook, so a test can assert
/// on a job's payload; recorded only while a capture is open.
#[test]
fn captured_hooks_give_the_debug_text_of_their_arguments() {
    let (_db, mut conn) = conn();
    let mailer = Mailer::default();
    let (result, captured) = capture(&mut conn, |conn| sign_up(conn, &mailer, vec![4, 5]));
    result.unwrap();
    let args: Vec<_> = captured.hooks().iter().map(|h| h.args()).collect();
    assert_eq!(
        args,
        [Some(&["4".to_owned()][..]), Some(&["5".to_owned()][..])]
    );

    // `enqueue!(conn => ..)` outside a transaction (the hook would run at once), with an
    // argument that has no `Debug`.
    let to = String::from("a@example.com");
    let (result, captured) = capture(
        &mut conn,
        |conn| oncommit::enqueue!(conn => deliver(to.clone(), Some(2), Opaque)),
    );
    result.unwrap();
    assert_eq!(
        captured.hooks()[0].args().unwrap(),
        [
            "\"a@example.com\"".to_owned(),
            "Some(2)".to_owned(),
            format!("<{}>", std::any::type_name::<Opaque>()),
        ]
    );

    // A closure has no arguments to show.
    let (result, captured) = capture(&mut conn, |conn| conn.on_commit(|| ()));
    result.unwrap();
    assert_eq!(captured.hooks()[0].args(), None);
}

#[tokio::test]
async fn captured_async_hooks_give_their_arguments_too() {
    let (_db, mut conn) = conn();
    let (result, captured) = capture_async(
        &mut conn,
        async |conn| oncommit::enqueue!(conn => deliver_later(9).await),
    )
    .await;
    result.unwrap();
    assert_eq!(captured.hooks()[0].args().unwrap(), ["9"]);
    captured.run_async().await.unwrap();
}

/// A capture inside an open transaction takes the hooks registered during it, with their
/// arguments; the hook registered before it stays and runs at COMMIT.
#[test]
fn a_capture_inside_a_transaction_gives_the_arguments_of_the_hooks_it_takes() {
    let (_db, mut conn) = conn();
    let mailer = Mailer::default();
    conn.atomic(|conn| {
        sign_up(conn, &mailer, vec![1])?;
        let (result, captured) = capture(conn, |conn| sign_up(conn, &mailer, vec![2]));
        result?;
        // Only the hook registered during the capture is taken out, and it has its text.
        assert_eq!(captured.hooks()[0].args().unwrap(), ["2"]);
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(mailer.sent(), [1]);
}

/// A repository that owns its `Conn`: `Capture` starts and finishes on the field, and the
/// repository's method runs between (where `capture(&mut repo.conn, ..)` cannot borrow
/// `repo` again). The hook does not run until the test runs it.
#[test]
fn capture_around_a_repository_that_owns_its_conn() {
    use oncommit::testing::Capture;

    struct Users {
        conn: Conn<Memory>,
        sent: std::sync::mpsc::Sender<String>,
    }

    impl Users {
        fn sign_up(&mut self, email: &str) -> Result<(), Error> {
            let (email, sent) = (email.to_owned(), self.sent.clone());
            self.conn.atomic(|conn| {
                conn.execute("INSERT INTO users VALUES (1)");
                conn.on_commit(move || sent.send(email))
            })
        }
    }

    let (sent, outbox) = std::sync::mpsc::channel();
    let memory = Memory::new();
    let mut users = Users {
        conn: Conn::new(memory.clone()),
        sent,
    };
    let capture = Capture::start(&mut users.conn);
    users.sign_up("a@example.com").unwrap();
    let captured = capture.finish(&mut users.conn);
    assert_eq!(
        memory.statements(),
        ["BEGIN", "INSERT INTO users VALUES (1)", "COMMIT"]
    );
    assert!(outbox.try_recv().is_err(), "captured, not run");
    assert_eq!(captured.len(), 1);
    captured.run().unwrap();
    assert_eq!(outbox.try_recv().unwrap(), "a@example.com");
    // The capture is over: the next sign-up's hook runs at its COMMIT.
    users.sign_up("b@example.com").unwrap();
    assert_eq!(outbox.try_recv().unwrap(), "b@example.com");
}

/// Hooks registered by captured hooks while the test runs them (Django #14796): the capture
/// is over, so they run as usual: at once outside a transaction, after COMMIT inside one.
#[test]
fn hooks_registered_by_captured_hooks_run() {
    use std::sync::{Arc, Mutex};

    let shared = Arc::new(Mutex::new(Conn::new(Memory::new())));
    let ran = Arc::new(Mutex::new(Vec::new()));
    let captured = {
        let mut conn = shared.lock().unwrap();
        let (result, captured) = capture(&mut conn, |conn| {
            let (shared, ran) = (shared.clone(), ran.clone());
            conn.atomic(|conn| {
                conn.on_commit(move || {
                    ran.lock().unwrap().push("captured");
                    let mut conn = shared.lock().unwrap();
                    let ran_now = ran.clone();
                    conn.on_commit(move || ran_now.lock().unwrap().push("registered, outside"))?;
                    let ran_later = ran.clone();
                    conn.atomic(|conn| {
                        conn.on_commit(move || ran_later.lock().unwrap().push("registered, inside"))
                    })
                })
            })
        });
        result.unwrap();
        captured
    };
    assert!(ran.lock().unwrap().is_empty());
    captured.run().unwrap();
    assert_eq!(
        *ran.lock().unwrap(),
        ["captured", "registered, outside", "registered, inside"]
    );
}

/// An argument whose type only the call decides (`None`, `.into()`), of a type without
/// `Debug`: it compiles, and is described by its type's name.
#[test]
fn arguments_typed_by_the_call_are_described_by_their_own_type() {
    struct Attachment(#[allow(dead_code)] Vec<u8>);

    fn send(_id: u64, _attachment: Option<Attachment>, _to: String) {}

    #[oncommit::atomic]
    fn notify(conn: &mut Conn<Memory>, id: u64) -> Result<(), Error> {
        oncommit::enqueue!(send(id, None, "a@example.com".into()));
        Ok(())
    }

    let (_db, mut conn) = conn();
    let (result, captured) = capture(&mut conn, |conn| notify(conn, 3));
    result.unwrap();
    assert_eq!(
        captured.hooks()[0].args().unwrap(),
        [
            "3".to_owned(),
            format!("<{}>", std::any::type_name::<Option<Attachment>>()),
            "\"a@example.com\"".to_owned(),
        ]
    );
}
