//! `&user`: a borrow of the `for` loop's variable.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

#[derive(Debug)]
struct User {
    id: u64,
}

fn audit(user: impl std::borrow::Borrow<User>) {
    let _ = user.borrow().id;
}

#[atomic]
fn audit_all(conn: &mut Conn<Memory>, users: Vec<User>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for user in users {
        enqueue!(audit(&user));
    }
    Ok(())
}

fn main() {}
