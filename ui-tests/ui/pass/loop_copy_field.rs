//! `user.id` copies a `Copy` field out of the loop variable; `&ids` patterns copy items.
use std::sync::{Arc, Mutex};

use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<u64>>>);

impl Seen {
    fn push(&self, id: u64) {
        self.0.lock().unwrap().push(id);
    }
}

struct User {
    id: u64,
    name: String,
}

#[atomic]
fn collect(conn: &mut Conn<Memory>, seen: &Seen, users: Vec<User>, extra: Vec<u64>) -> Result<(), Error> {
    for user in &users {
        conn.execute(format!("SELECT {}", user.name));
        enqueue!(seen.push(user.id));
    }
    for &id in &extra {
        enqueue!(seen.push(id));
    }
    for (i, id) in extra.iter().enumerate() {
        enqueue!(seen.push(i as u64 * 100 + *id));
    }
    Ok(())
}

fn main() {
    let mut conn = Conn::new(Memory::new());
    let seen = Seen::default();
    let users = vec![
        User { id: 1, name: "a".into() },
        User { id: 2, name: "b".into() },
    ];
    collect(&mut conn, &seen, users, vec![7, 8]).unwrap();
    assert_eq!(*seen.0.lock().unwrap(), [1, 2, 7, 8, 7, 108]);
}
