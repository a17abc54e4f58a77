//! `robust` is the only option of `enqueue!`.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

fn send(_id: u64) {}

#[atomic]
fn save(conn: &mut Conn<Memory>, id: u64) -> Result<(), Error> {
    conn.execute("INSERT");
    enqueue!(send(id), fast);
    Ok(())
}

fn main() {}
