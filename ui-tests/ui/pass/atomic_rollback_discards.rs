//! An `Err` from the body rolls back and discards every hook; a panic in the body rolls back
//! too and the `Conn` is usable afterwards.
use oncommit::memory::Memory;
use oncommit::{Conn, atomic, enqueue};
use oncommit_ui_tests::{AppError, Log};

#[atomic]
fn save(conn: &mut Conn<Memory>, log: &Log, what: &str) -> Result<(), AppError> {
    enqueue!(log.send(format!("saved {what}")));
    conn.execute(format!("INSERT {what}"));
    match what {
        "bad" => Err(AppError::Invalid(what.to_owned())),
        "panic" => panic!("body panicked"),
        _ => Ok(()),
    }
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let log = Log::new();
    assert!(save(&mut conn, &log, "bad").is_err());
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = save(&mut conn, &log, "panic");
    }));
    assert!(panicked.is_err());
    save(&mut conn, &log, "good").unwrap();
    assert_eq!(log.entries(), ["saved good"]);
    assert_eq!(
        db.statements(),
        ["BEGIN", "INSERT bad", "ROLLBACK", "BEGIN", "INSERT panic", "ROLLBACK", "BEGIN", "INSERT good", "COMMIT"]
    );
}
