//! A struct literal with a field borrowing a loop variable.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct User {
    id: u64,
    email: String,
}

struct Welcome<'a> {
    id: u64,
    email: &'a str,
}

fn send(job: Welcome<'_>) {
    let _ = (job.id, job.email);
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
