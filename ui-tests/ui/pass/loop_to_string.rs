//! `to_string()`, `to_owned()`, `as_str().to_owned()`: owned results are accepted.
use std::sync::{Arc, Mutex};

use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn push(&self, a: String, b: String, c: String) {
        self.0.lock().unwrap().push(format!("{a}/{b}/{c}"));
    }
}

#[atomic]
fn tag(conn: &mut Conn<Memory>, seen: &Seen, ids: Vec<u32>, names: Vec<String>) -> Result<(), Error> {
    for (id, name) in ids.into_iter().zip(names) {
        enqueue!(seen.push(id.to_string(), name.as_str().to_owned(), name.trim().to_owned()));
    }
    Ok(())
}

fn main() {
    let mut conn = Conn::new(Memory::new());
    let seen = Seen::default();
    tag(&mut conn, &seen, vec![7, 8], vec!["x ".into(), "y".into()]).unwrap();
    assert_eq!(*seen.0.lock().unwrap(), ["7/x /x", "8/y/y"]);
}
