//! What an adapter's closure returns for a borrowed item is still a borrow of the loop
//! variable: `map(|t| t.trim())` over its tags, `first().map(..)`, `and_then(..)`.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct User {
    email: String,
    tags: Vec<String>,
}

fn send<T: std::fmt::Debug>(value: T) {
    let _ = format!("{value:?}");
}

#[atomic]
fn notify(conn: &mut Conn<Memory>, users: Vec<User>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for user in users {
        enqueue!(send(user.tags.iter().map(|t| t.trim()).collect::<Vec<_>>()));
        enqueue!(send(user.tags.first().map(|t| t.trim())));
        enqueue!(send(user.email.strip_prefix("mailto:").and_then(|e| e.strip_suffix(".com"))));
    }
    Ok(())
}

fn main() {}
