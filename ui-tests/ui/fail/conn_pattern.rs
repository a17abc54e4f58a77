//! The connection parameter must be bound to a name.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic};

#[atomic]
fn save(_: &mut Conn<Memory>) -> Result<(), Error> {
    Ok(())
}

fn main() {}
