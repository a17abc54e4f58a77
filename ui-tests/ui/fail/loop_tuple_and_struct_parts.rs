//! The part of a tuple or struct value that is a borrow still is one, bound by a pattern.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct User {
    id: u64,
    email: String,
}

struct Job<'a> {
    id: u64,
    to: &'a String,
}

fn send(to: impl AsRef<str>) {
    let _ = to.as_ref().len();
}

#[atomic]
fn notify(conn: &mut Conn<Memory>, users: Vec<User>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for user in users {
        let (.., email) = (user.id, 3, &user.email);
        enqueue!(send(email));
        let Job { to, .. } = Job { id: user.id, to: &user.email };
        enqueue!(send(to));
    }
    Ok(())
}

fn main() {}
