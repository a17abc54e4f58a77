//! A borrow of a local (not a loop variable) cannot be moved into a hook that runs after the
//! fn returned: rustc's borrow error, at the borrow.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

fn send(_name: &str) {}

#[atomic]
fn save(conn: &mut Conn<Memory>) -> Result<(), Error> {
    let name = String::from("ann");
    enqueue!(send(&name));
    Ok(())
}

fn main() {}
