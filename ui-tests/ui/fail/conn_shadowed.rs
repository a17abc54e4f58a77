//! `enqueue!` defers on the fn's connection: rebinding its name in the body would silently
//! defer on something else, so it is an error at the binding.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

fn send(_id: u64) {}

#[atomic]
fn save(conn: &mut Conn<Memory>, id: u64) -> Result<(), Error> {
    conn.execute("INSERT");
    let conn = &mut Conn::new(Memory::new());
    enqueue!(send(id));
    conn.execute("UPDATE");
    Ok(())
}

fn main() {}
