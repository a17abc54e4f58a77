//! An unknown isolation level and a `retry` that is not a count: each is an error on its
//! value, both reported at once.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic};

#[atomic(isolation = snapshot, retry = 2.5)]
fn save(conn: &mut Conn<Memory>) -> Result<(), Error> {
    conn.execute("INSERT");
    Ok(())
}

fn main() {}
