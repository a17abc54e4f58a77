//! Semantics 10: receiver and arguments are evaluated at the `enqueue!`, left to right;
//! reassigning or mutating them afterwards changes nothing the hook sees.
use std::cell::Cell;

use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::Log;

fn tick(counter: &Cell<u32>, label: &str) -> String {
    counter.set(counter.get() + 1);
    format!("{label}{}", counter.get())
}

#[atomic]
fn save(conn: &mut Conn<Memory>, first: &Log, second: &Log) -> Result<(), Error> {
    let mut id = 1;
    let mut name = String::from("ann");
    let mut target = first.clone();
    enqueue!(target.send(format!("{name} {id}")));
    enqueue!(target.send(name.clone()));
    id = 2;
    name.push_str("-changed");
    target = second.clone();
    enqueue!(target.send(format!("{name} {id}")));

    // evaluation order: receiver, then arguments left to right, all before the enqueue! ends
    let counter = Cell::new(0);
    let order = Log::new();
    enqueue!(order.send(tick(&counter, "a") + &tick(&counter, "b")));
    assert_eq!(counter.get(), 2, "arguments are evaluated at the enqueue!");
    enqueue!(first.send(order.entries().join(",")));
    Ok(())
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let (first, second) = (Log::new(), Log::new());
    save(&mut conn, &first, &second).unwrap();
    assert_eq!(first.entries(), ["ann 1", "ann", ""]);
    assert_eq!(second.entries(), ["ann-changed 2"]);
}
