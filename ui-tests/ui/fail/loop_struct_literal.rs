//! A struct literal with a field borrowing a loop variable.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct User {
    id: u64,
    email: String,
}

struct Welcome<E> {
    id: u64,
    email: E,
}

fn send(job: Welcome<impl AsRef<str>>) {
    let _ = (job.id, job.email.as_ref());
}

#[atomic]
fn welcome(conn: &mut Conn<Memory>, users: Vec<User>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for user in users {
        enqueue!(send(Welcome { id: user.id, email: &user.email }));
    }
    Ok(())
}

fn main() {}
