//! `&mut counter`: a mutable borrow of a loop variable.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

fn bump(counter: &mut u64) {
    *counter += 1;
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
