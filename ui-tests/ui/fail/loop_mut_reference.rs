//! `&mut counter`: a mutable borrow of a loop variable.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

fn bump(mut counter: impl std::borrow::BorrowMut<u64>) {
    *counter.borrow_mut() += 1;
}

#[atomic]
fn count(conn: &mut Conn<Memory>, counters: Vec<u64>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for mut counter in counters {
        enqueue!(bump(&mut counter));
    }
    Ok(())
}

fn main() {}
