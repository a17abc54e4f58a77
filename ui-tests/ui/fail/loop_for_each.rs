//! The parameter of a closure passed to `for_each` is a loop variable.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct User {
    email: String,
}

fn send(to: impl AsRef<str>) {
    let _ = to.as_ref().len();
}

#[atomic]
fn notify(conn: &mut Conn<Memory>, users: Vec<User>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    users.into_iter().for_each(|user| {
        enqueue!(send(user.email.trim()));
    });
    Ok(())
}

fn main() {}
