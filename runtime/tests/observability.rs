//! What a tracing subscriber sees of a transaction: its COMMIT and hooks inside an
//! `oncommit.transaction` span (with its outcome and hook count), each run of hooks from one
//! site in an `oncommit.hooks` span with the call's text, site and count, and a hook's failure
//! as structured fields.

mod common;

use common::capture_logs;
use oncommit::memory::Memory;
use oncommit::{Conn, Error, enqueue};

fn greet(n: u32) {
    tracing::info!(n, "hook ran");
}

fn fail(n: u32) -> Result<(), &'static str> {
    let _ = n;
    Err("mailer down")
}

#[oncommit::atomic]
fn sign_up(conn: &mut Conn<Memory>) -> Result<(), Error> {
    for n in 0..2 {
        enqueue!(greet(n));
    }
    enqueue!(fail(7));
    Ok(())
}

#[test]
fn spans_for_the_transaction_and_its_hooks() {
    let (logs, _guard) = capture_logs();
    let mut conn = Conn::new(Memory::new());
    let error = sign_up(&mut conn).unwrap_err();
    assert!(error.committed());
    let logs = logs.contents();
    let ran: Vec<&str> = logs.lines().filter(|l| l.contains("hook ran")).collect();
    assert_eq!(ran.len(), 2, "{logs}");
    for line in &ran {
        assert!(
            line.contains("oncommit.transaction{outcome=\"committed\" hooks=3}"),
            "{line}"
        );
        assert!(
            line.contains("oncommit.hooks{call=\"greet(n)\"") && line.contains("count=2"),
            "{line}"
        );
    }
    let failed = logs
        .lines()
        .find(|l| l.contains("after-commit hook failed"))
        .unwrap_or_else(|| panic!("no failure logged: {logs}"));
    assert!(failed.contains("call=\"fail(7)\""), "{failed}");
    assert!(
        failed.contains("site=") && failed.contains("observability.rs"),
        "{failed}"
    );
    assert!(failed.contains("error=mailer down"), "{failed}");
}
