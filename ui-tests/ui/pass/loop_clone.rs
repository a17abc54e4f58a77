//! `user.clone()` and `user.email.clone()` capture owned copies; the loop keeps using `user`.
use std::sync::{Arc, Mutex};

use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn user(&self, user: User) {
        self.0.lock().unwrap().push(format!("user {}", user.email));
    }

    fn email(&self, email: String) {
        self.0.lock().unwrap().push(format!("email {email}"));
    }
}

#[derive(Clone)]
struct User {
    email: String,
}

#[atomic]
fn notify(conn: &mut Conn<Memory>, seen: &Seen, users: Vec<User>) -> Result<(), Error> {
    for user in users {
        enqueue!(seen.user(user.clone()));
        enqueue!(seen.email(user.email.clone()));
        conn.execute(format!("UPDATE {}", user.email));
    }
    Ok(())
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let seen = Seen::default();
    let users = vec![User { email: "a@x".into() }, User { email: "b@x".into() }];
    notify(&mut conn, &seen, users).unwrap();
    assert_eq!(
        *seen.0.lock().unwrap(),
        ["user a@x", "email a@x", "user b@x", "email b@x"]
    );
    assert_eq!(db.statements(), ["BEGIN", "UPDATE a@x", "UPDATE b@x", "COMMIT"]);
}
