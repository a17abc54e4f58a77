//! Generic fns: over the backend, over the value type, with a where clause and a lifetime.
use std::fmt::Display;

use oncommit::memory::Memory;
use oncommit::{AsyncBackend, Conn, Error, SyncBackend, atomic, enqueue};
use oncommit_ui_tests::{Log, block_on};

#[atomic]
fn save<'a, C, T>(conn: &mut Conn<C>, log: &'a Log, value: T) -> Result<&'a Log, Error>
where
    C: SyncBackend,
    T: Display,
{
    enqueue!(log.send(format!("saved {value}")));
    Ok(log)
}

#[atomic]
async fn save_async<C: AsyncBackend + Send, T: Display + Send + 'static>(
    conn: &mut Conn<C>,
    log: &Log,
    value: T,
) -> Result<(), Error> {
    enqueue!(log.push(format!("async {value}")).await);
    Ok(())
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let log = Log::new();
    let same = save(&mut conn, &log, 42).unwrap();
    assert!(std::ptr::eq(same, &log));
    save(&mut conn, &log, "text").unwrap();
    block_on(save_async(&mut conn, &log, 1.5)).unwrap();
    assert_eq!(log.entries(), ["saved 42", "saved text", "async 1.5"]);
    assert_eq!(db.statements(), ["BEGIN", "COMMIT", "BEGIN", "COMMIT", "BEGIN", "COMMIT"]);
}
