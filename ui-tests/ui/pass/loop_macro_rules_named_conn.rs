//! The fix the `macro_rules!` error suggests: name the connection inside the macro.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::Log;

macro_rules! notify_each {
    ($conn:expr, $log:expr, $ids:expr) => {
        for id in $ids {
            enqueue!($conn => $log.send(format!("{id}")))?;
        }
    };
}

#[atomic]
fn run(conn: &mut Conn<Memory>, log: &Log, ids: Vec<u32>) -> Result<(), Error> {
    notify_each!(conn, log, ids);
    Ok(())
}

fn main() {
    let log = Log::default();
    let mut conn = Conn::new(Memory::new());
    run(&mut conn, &log, vec![1, 2]).unwrap();
    assert_eq!(log.entries(), ["1", "2"]);
}
