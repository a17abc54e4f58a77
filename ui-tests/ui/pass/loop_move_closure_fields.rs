//! A `move` closure captures the fields it uses (edition 2021): one that uses only the copy
//! in a tuple or struct next to a borrow holds no borrow.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::Log;

struct User {
    id: u64,
    email: String,
}

struct Pair<'a> {
    id: u64,
    email: &'a str,
}

#[derive(Clone)]
struct Later(Log);

impl Later {
    fn run(&self, job: impl FnOnce() -> u64 + Send + 'static) {
        self.0.send(job().to_string());
    }
}

#[atomic]
fn schedule(conn: &mut Conn<Memory>, later: &Later, users: Vec<User>) -> Result<(), Error> {
    for user in users {
        conn.execute(format!("UPDATE users SET queued = true WHERE id = {}", user.id));
        let pair = (user.id, &user.email);
        enqueue!(later.run(move || pair.0 * 10));
        let named = Pair { id: user.id, email: &user.email };
        enqueue!(later.run(move || named.id + 1));
        let _ = (pair.1, named.email);
    }
    Ok(())
}

fn main() {
    let log = Log::default();
    let mut conn = Conn::new(Memory::new());
    let users = vec![User { id: 1, email: "a".into() }, User { id: 2, email: "b".into() }];
    schedule(&mut conn, &Later(log.clone()), users).unwrap();
    assert_eq!(log.entries(), ["10", "2", "20", "3"]);
}
