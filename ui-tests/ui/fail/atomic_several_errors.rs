//! Several mistakes in one fn: one error each, and nothing else.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

fn send(_id: u64) {}

#[atomic]
fn save(conn: &mut Conn<Memory>, id: u64) -> Result<(), Error> {
    conn.execute("INSERT");
    enqueue!(id);
    enqueue!(send(id), fast);
    enqueue!(send(id));
    enqueue!({ send(id) });
    Ok(())
}

fn main() {}
