//! A tuple holding a borrow of a loop variable.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct User {
    id: u64,
    email: String,
}

fn send(job: (u64, impl AsRef<str>)) {
    let _ = job.1.as_ref();
}

#[atomic]
fn notify(conn: &mut Conn<Memory>, users: Vec<User>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for user in users {
        enqueue!(send((user.id, &user.email)));
    }
    Ok(())
}

fn main() {}
