//! `first()` and `strip_prefix()` give an `Option` of a borrow of the loop variable.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct User {
    tags: Vec<String>,
    email: String,
}

fn tag(first: Option<impl AsRef<str>>) {
    let _ = first.map(|t| t.as_ref().len());
}

#[atomic]
fn tag_all(conn: &mut Conn<Memory>, users: Vec<User>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for user in users {
        enqueue!(tag(user.tags.first()));
        let local = user.email.strip_prefix("mailto:");
        enqueue!(tag(local));
    }
    Ok(())
}

fn main() {}
