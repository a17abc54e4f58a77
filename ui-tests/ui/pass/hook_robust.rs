//! Failing hooks: a robust failure is only logged; a non-robust one comes back as
//! `Err(committed)` after every hook ran (the data is committed).
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::Log;

#[atomic]
fn robust_only(conn: &mut Conn<Memory>, log: &Log) -> Result<(), Error> {
    enqueue!(log.try_send("fail robust".to_owned()), robust);
    enqueue!(log.send("after".to_owned()));
    Ok(())
}

#[atomic]
fn failing(conn: &mut Conn<Memory>, log: &Log) -> Result<(), Error> {
    enqueue!(log.try_send("fail loud".to_owned()));
    enqueue!(log.try_send("still runs".to_owned()));
    Ok(())
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let log = Log::new();
    robust_only(&mut conn, &log).unwrap();
    assert_eq!(log.entries(), ["after"]);
    let err = failing(&mut conn, &log).unwrap_err();
    assert!(err.committed());
    assert!(err.to_string().contains("log.try_send(\"fail loud\".to_owned())"), "{err}");
    assert_eq!(log.entries(), ["after", "still runs"]);
    assert_eq!(db.statements(), ["BEGIN", "COMMIT", "BEGIN", "COMMIT"]);
}
