//! Shadowing a borrow with an owned value: `let email = email.clone();` is accepted.
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
    email: String,
}

#[atomic]
fn notify(conn: &mut Conn<Memory>, seen: &Seen, users: Vec<User>) -> Result<(), Error> {
    for user in &users {
        let email = &user.email;
        conn.execute(format!("CHECK {email}"));
        let email = email.clone();
        enqueue!(seen.push(email));
    }
    for user in users {
        let user = user.email.to_uppercase();
        enqueue!(seen.push(user));
    }
    Ok(())
}

fn main() {
    let mut conn = Conn::new(Memory::new());
    let seen = Seen::default();
    let users = vec![User { email: "a@x".into() }, User { email: "b@x".into() }];
    notify(&mut conn, &seen, users).unwrap();
    assert_eq!(*seen.0.lock().unwrap(), ["a@x", "b@x", "A@X", "B@X"]);
}
