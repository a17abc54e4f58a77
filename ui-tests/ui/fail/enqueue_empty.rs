//! An empty `enqueue!()`.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

#[atomic]
fn save(conn: &mut Conn<Memory>) -> Result<(), Error> {
    conn.execute("INSERT");
    enqueue!();
    Ok(())
}

fn main() {}
