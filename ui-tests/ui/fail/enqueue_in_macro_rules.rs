//! `enqueue!` written inside a `macro_rules!` macro that an #[atomic] fn calls: the
//! attribute does not see it (the macro expands later), so the plain form is an error that
//! says to name the connection.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::Log;

macro_rules! notify_each {
    ($log:expr, $ids:expr) => {
        for id in $ids {
            enqueue!($log.send(format!("{id}")));
        }
    };
}

#[atomic]
fn run(conn: &mut Conn<Memory>, log: &Log, ids: Vec<u32>) -> Result<(), Error> {
    notify_each!(log, ids);
    Ok(())
}

fn main() {}
