//! `render(&user)` borrows the loop variable for the call only; its result is owned.
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
    email: String,
}

fn render(user: &User) -> String {
    format!("{} <{}>", user.id, user.email)
}

fn subject(email: &str) -> String {
    format!("welcome, {email}")
}

#[atomic]
fn notify(conn: &mut Conn<Memory>, seen: &Seen, users: Vec<User>) -> Result<(), Error> {
    for user in users {
        enqueue!(seen.push(render(&user)));
        enqueue!(seen.push(subject(user.email.as_str())));
    }
    Ok(())
}

fn main() {
    let mut conn = Conn::new(Memory::new());
    let seen = Seen::default();
    let users = vec![
        User { id: 1, email: "a@x".into() },
        User { id: 2, email: "b@x".into() },
    ];
    notify(&mut conn, &seen, users).unwrap();
    assert_eq!(
        *seen.0.lock().unwrap(),
        ["1 <a@x>", "welcome, a@x", "2 <b@x>", "welcome, b@x"]
    );
}
