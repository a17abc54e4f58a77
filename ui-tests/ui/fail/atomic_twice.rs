//! `#[atomic]` written twice on one fn.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::Log;

#[atomic]
#[atomic]
fn run(conn: &mut Conn<Memory>, log: &Log, id: u32) -> Result<(), Error> {
    enqueue!(log.send(format!("{id}")));
    Ok(())
}

fn main() {}
