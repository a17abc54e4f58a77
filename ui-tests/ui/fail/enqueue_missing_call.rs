//! `conn =>` must be followed by the call.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, enqueue};

fn save(conn: &mut Conn<Memory>) -> Result<(), Error> {
    enqueue!(conn =>)
}

fn main() {}
