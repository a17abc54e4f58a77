//! An array literal of borrows of a loop variable: one error per borrow.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct User {
    first: String,
    last: String,
}

fn index(names: [impl AsRef<str>; 2]) {
    let _ = names;
}

#[atomic]
fn index_all(conn: &mut Conn<Memory>, users: Vec<User>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for user in users {
        enqueue!(index([&user.first, &user.last]));
    }
    Ok(())
}

fn main() {}
