//! `enqueue!` inside other macros' arguments (`vec![..]`, `assert_eq!(..)`) is rewritten too.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::Log;

#[atomic]
fn many(conn: &mut Conn<Memory>, log: &Log) -> Result<usize, Error> {
    let mut units = vec![
        enqueue!(log.send("first".to_owned())),
        enqueue!(log.send("second".to_owned())),
    ];
    assert_eq!(enqueue!(log.send("third".to_owned())), ());
    assert!(log.is_empty());
    units.push(());
    Ok(units.len())
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let log = Log::new();
    assert_eq!(many(&mut conn, &log).unwrap(), 3);
    assert_eq!(log.entries(), ["first", "second", "third"]);
}
