//! Loop variables over 'static data: an array of string literals, a `const` text's lines, a
//! `static` slice's items. Their methods borrow the 'static data, not the iteration, so rustc
//! accepts hooks that capture the results, and so does the loop-borrow check.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::Log;

const TEXT: &str = "> ann\n> bob";
static GROUPS: [&[&str]; 2] = [&["ann", "al"], &["bob"]];

#[derive(Clone)]
struct Greeter(Log);

impl Greeter {
    fn greet(&self, name: Option<&'static str>) {
        self.0.send(name.unwrap_or("?").to_owned());
    }
}

#[atomic]
fn greet_all(conn: &mut Conn<Memory>, greeter: &Greeter) -> Result<(), Error> {
    for name in ["  ann ", "bob"] {
        enqueue!(greeter.greet(Some(name.trim())));
    }
    for line in TEXT.lines() {
        enqueue!(greeter.greet(line.strip_prefix("> ")));
    }
    for names in GROUPS.iter() {
        enqueue!(greeter.greet(names.first().copied()));
    }
    Ok(())
}

fn main() {
    let mut conn = Conn::new(Memory::new());
    let log = Log::new();
    greet_all(&mut conn, &Greeter(log.clone())).unwrap();
    assert_eq!(log.entries(), ["ann", "bob", "ann", "bob", "ann", "bob"]);
}
