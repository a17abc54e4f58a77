//! The seed story, fixed: the welcome mail captures an owned copy of the email, so each
//! hook sends to its own user (not the last one), after COMMIT.
use std::sync::{Arc, Mutex};

use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

#[derive(Clone, Default)]
struct Mailer {
    sent: Arc<Mutex<Vec<String>>>,
}

impl Mailer {
    async fn send_welcome(&self, email: impl AsRef<str>) {
        self.sent.lock().unwrap().push(email.as_ref().to_owned());
    }
}

struct NewUser {
    email: String,
}

#[atomic]
async fn sign_up(conn: &mut Conn<Memory>, mailer: &Mailer, users: Vec<NewUser>) -> Result<(), Error> {
    for user in users {
        conn.execute(format!("INSERT INTO users (email) VALUES ('{}')", user.email));
        enqueue!(mailer.send_welcome(user.email.clone()).await);
    }
    assert!(mailer.sent.lock().unwrap().is_empty(), "nothing is sent before COMMIT");
    Ok(())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let mailer = Mailer::default();
    let users = ["a@example.com", "b@example.com", "c@example.com"]
        .map(|email| NewUser { email: email.to_owned() })
        .into();
    runtime.block_on(sign_up(&mut conn, &mailer, users)).unwrap();
    assert_eq!(
        *mailer.sent.lock().unwrap(),
        ["a@example.com", "b@example.com", "c@example.com"]
    );
    assert_eq!(db.statements().last().map(String::as_str), Some("COMMIT"));
}
