//! Captured values move into a hook that may run on another thread: they must be `Send`.
use std::rc::Rc;

use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

fn send(_name: Rc<String>) {}

#[atomic]
fn save(conn: &mut Conn<Memory>) -> Result<(), Error> {
    let name = Rc::new(String::from("ann"));
    enqueue!(send(name));
    Ok(())
}

fn main() {}
