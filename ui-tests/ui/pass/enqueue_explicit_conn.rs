//! `enqueue!(conn => CALL)`: outside a transaction it runs at once (and returns its failure);
//! inside an #[atomic] fn it defers like `enqueue!(CALL)`.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::Log;

fn plain(conn: &mut Conn<Memory>, log: &Log, what: &str) -> Result<(), Error> {
    enqueue!(conn => log.try_send(what.to_owned()))
}

#[atomic]
fn inside(conn: &mut Conn<Memory>, log: &Log) -> Result<(), Error> {
    let before = log.entries();
    plain(conn, log, "deferred by the helper")?;
    enqueue!(conn => log.send("deferred explicit".to_owned()))?;
    assert_eq!(log.entries(), before, "nothing runs before COMMIT");
    Ok(())
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let log = Log::new();
    plain(&mut conn, &log, "at once").unwrap();
    assert_eq!(log.entries(), ["at once"]);
    let err = plain(&mut conn, &log, "fail now").unwrap_err();
    assert!(err.committed());
    inside(&mut conn, &log).unwrap();
    assert_eq!(log.entries(), ["at once", "deferred by the helper", "deferred explicit"]);
    // an owned Conn works with `&mut conn =>`
    enqueue!(&mut conn => log.send("owned".to_owned())).unwrap();
    assert_eq!(log.entries().last().map(String::as_str), Some("owned"));
    assert_eq!(db.statements(), ["BEGIN", "COMMIT"]);
}
