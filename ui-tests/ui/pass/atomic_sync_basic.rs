//! A sync #[atomic] fn: the hook waits for COMMIT and sees the values of the enqueue!.
use std::sync::{Arc, Mutex};

use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

#[derive(Clone, Default)]
struct Mailer {
    sent: Arc<Mutex<Vec<String>>>,
}

impl Mailer {
    fn send(&self, to: String, id: u64) {
        self.sent.lock().unwrap().push(format!("{to}#{id}"));
    }
}

#[atomic]
fn sign_up(conn: &mut Conn<Memory>, mailer: &Mailer, email: &str) -> Result<u64, Error> {
    conn.execute(format!("INSERT {email}"));
    let id = 42;
    enqueue!(mailer.send(email.to_owned(), id));
    assert!(mailer.sent.lock().unwrap().is_empty(), "nothing runs before COMMIT");
    Ok(id)
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let mailer = Mailer::default();
    let id = sign_up(&mut conn, &mailer, "a@example.com").unwrap();
    assert_eq!(id, 42);
    assert_eq!(*mailer.sent.lock().unwrap(), ["a@example.com#42"]);
    assert_eq!(db.statements(), ["BEGIN", "INSERT a@example.com", "COMMIT"]);
}
