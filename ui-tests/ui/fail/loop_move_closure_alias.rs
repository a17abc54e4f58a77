//! `move` does not help when what is moved is itself a borrow of a loop variable.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct User {
    email: String,
}

fn later(f: impl FnOnce() -> usize) {
    let _ = f();
}

#[atomic]
fn schedule(conn: &mut Conn<Memory>, users: Vec<User>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for user in users {
        let email = &user.email;
        enqueue!(later(move || email.len()));
    }
    Ok(())
}

fn main() {}
