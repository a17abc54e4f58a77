//! `enqueue!` defers a call; this is not one: the error shows the accepted forms.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct User {
    email: String,
}

fn send(_id: u64) {}

#[atomic]
fn save(conn: &mut Conn<Memory>, user: User, id: u64) -> Result<(), Error> {
    conn.execute(user.email.clone());
    enqueue!(id);
    Ok(())
}

fn main() {}
