//! `format!("{}", user.name)` borrows the loop variable only while it formats: accepted.
use std::sync::{Arc, Mutex};

use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn push(&self, line: String) {
        self.0.lock().unwrap().push(line);
    }
}

struct User {
    id: u64,
    name: String,
}

#[atomic]
fn greet(conn: &mut Conn<Memory>, seen: &Seen, users: Vec<User>) -> Result<(), Error> {
    for user in users {
        enqueue!(seen.push(format!("hello {} (#{})", user.name, user.id)));
        enqueue!(seen.push(format!("bye {}", &user.name)));
    }
    Ok(())
}

fn main() {
    let mut conn = Conn::new(Memory::new());
    let seen = Seen::default();
    let users = vec![
        User { id: 1, name: "ann".into() },
        User { id: 2, name: "bob".into() },
    ];
    greet(&mut conn, &seen, users).unwrap();
    assert_eq!(
        *seen.0.lock().unwrap(),
        ["hello ann (#1)", "bye ann", "hello bob (#2)", "bye bob"]
    );
}
