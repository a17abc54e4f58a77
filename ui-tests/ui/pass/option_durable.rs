//! `#[atomic(durable)]`: runs as the outermost transaction; nested in another it returns
//! `Err(ErrorKind::NotOutermost)` without running its body.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, Step, atomic, enqueue, ErrorKind};
use oncommit_ui_tests::Log;

#[atomic(durable)]
fn transfer(conn: &mut Conn<Memory>, log: &Log) -> Result<(), Error> {
    conn.execute("UPDATE accounts");
    enqueue!(log.send("transferred".to_owned()));
    Ok(())
}

#[atomic]
fn wrapper(conn: &mut Conn<Memory>, log: &Log) -> Result<(), Error> {
    let nested = transfer(conn, log);
    assert_eq!(nested.unwrap_err().kind(), ErrorKind::NotOutermost);
    Ok(())
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let log = Log::new();
    transfer(&mut conn, &log).unwrap();
    assert_eq!(log.entries(), ["transferred"]);
    wrapper(&mut conn, &log).unwrap();
    assert_eq!(log.entries(), ["transferred"], "the nested durable body did not run");
    assert_eq!(db.statements(), ["BEGIN", "UPDATE accounts", "COMMIT", "BEGIN", "COMMIT"]);
}
