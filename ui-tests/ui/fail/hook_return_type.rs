//! A hook must return `()` or a `Result`.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

fn count(id: u64) -> u64 {
    id + 1
}

#[atomic]
fn save(conn: &mut Conn<Memory>, id: u64) -> Result<(), Error> {
    conn.execute("INSERT");
    enqueue!(count(id));
    Ok(())
}

fn main() {}
