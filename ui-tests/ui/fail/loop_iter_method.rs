//! `user.tags.iter()`: an iterator borrowing a loop variable.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct User {
    tags: Vec<String>,
}

fn index<'a>(tags: impl Iterator<Item = &'a String>) {
    let _ = tags.count();
}

#[atomic]
fn index_all(conn: &mut Conn<Memory>, users: Vec<User>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for user in users {
        enqueue!(index(user.tags.iter()));
    }
    Ok(())
}

fn main() {}
