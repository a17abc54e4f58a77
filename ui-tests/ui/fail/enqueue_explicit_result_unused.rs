//! The explicit form evaluates to `Result<(), oncommit::Error>`: used where `()` is expected,
//! the type error points at the `enqueue!`.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, enqueue};

fn send(_id: u64) {}

fn save(conn: &mut Conn<Memory>, ids: &[u64]) -> Result<(), Error> {
    for &id in ids {
        match id {
            0 => enqueue!(conn => send(id)),
            _ => (),
        }
    }
    Ok(())
}

fn main() {}
