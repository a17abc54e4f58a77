//! `name.len()`, `tags.is_empty()`: methods that return owned values are accepted.
use std::sync::{Arc, Mutex};

use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(usize, bool)>>>);

impl Seen {
    fn push(&self, len: usize, empty: bool) {
        self.0.lock().unwrap().push((len, empty));
    }
}

#[atomic]
fn measure(conn: &mut Conn<Memory>, seen: &Seen, names: Vec<String>) -> Result<(), Error> {
    for name in names {
        enqueue!(seen.push(name.len(), name.trim().is_empty()));
    }
    Ok(())
}

fn main() {
    let mut conn = Conn::new(Memory::new());
    let seen = Seen::default();
    measure(&mut conn, &seen, vec!["ann".into(), "  ".into(), "bobby".into()]).unwrap();
    assert_eq!(*seen.0.lock().unwrap(), [(3, false), (2, true), (5, false)]);
}
