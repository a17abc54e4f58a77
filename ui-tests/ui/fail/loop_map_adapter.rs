//! The parameter of a closure passed to `map` is a loop variable.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

fn send(id: impl std::borrow::Borrow<u64>) {
    let _ = id.borrow();
}

#[atomic]
fn notify(conn: &mut Conn<Memory>, ids: Vec<u64>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    let sent = ids
        .into_iter()
        .map(|id| {
            enqueue!(send(&id));
            id
        })
        .count();
    assert!(sent > 0);
    Ok(())
}

fn main() {}
