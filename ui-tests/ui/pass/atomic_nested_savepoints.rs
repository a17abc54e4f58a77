//! Nested #[atomic] fns are savepoints: a failed inner one discards only its own hooks;
//! hooks of all levels run after the outermost COMMIT, in registration order.
use oncommit::memory::Memory;
use oncommit::{Conn, atomic, enqueue};
use oncommit_ui_tests::{AppError, Log};

#[atomic]
fn inner(conn: &mut Conn<Memory>, log: &Log, name: &str, ok: bool) -> Result<(), AppError> {
    conn.execute(format!("INSERT {name}"));
    enqueue!(log.send(format!("inner {name}")));
    if !ok {
        return Err(AppError::Invalid(name.to_owned()));
    }
    Ok(())
}

#[atomic]
fn outer(conn: &mut Conn<Memory>, log: &Log) -> Result<(), AppError> {
    enqueue!(log.send("outer first".to_owned()));
    inner(conn, log, "a", true)?;
    let failed = inner(conn, log, "b", false);
    assert!(matches!(failed, Err(AppError::Invalid(ref n)) if n == "b"));
    inner(conn, log, "c", true)?;
    enqueue!(log.send("outer last".to_owned()));
    assert!(log.is_empty(), "releasing a savepoint runs nothing");
    Ok(())
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let log = Log::new();
    outer(&mut conn, &log).unwrap();
    assert_eq!(log.entries(), ["outer first", "inner a", "inner c", "outer last"]);
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1", "INSERT a", "RELEASE SAVEPOINT oncommit_1",
            "SAVEPOINT oncommit_1", "INSERT b", "ROLLBACK TO SAVEPOINT oncommit_1",
            "SAVEPOINT oncommit_1", "INSERT c", "RELEASE SAVEPOINT oncommit_1",
            "COMMIT",
        ]
    );
    assert_eq!(conn.depth(), 0);
}
