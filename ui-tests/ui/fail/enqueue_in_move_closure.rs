//! `enqueue!(CALL)` inside a `move` closure would move the fn's connection into it.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::Log;

#[atomic]
fn run(conn: &mut Conn<Memory>, log: &Log, ids: Vec<u32>) -> Result<(), Error> {
    ids.into_iter().for_each(move |id| enqueue!(log.send(format!("{id}"))));
    Ok(())
}

fn main() {}
