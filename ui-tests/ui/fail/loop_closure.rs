//! A non-`move` closure that compares a loop variable's field borrows it (a comparison takes
//! its operands by reference).
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct User {
    id: u64,
}

fn later(f: impl FnOnce() -> u64) {
    let _ = f();
}

#[atomic]
fn schedule(conn: &mut Conn<Memory>, users: Vec<User>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for user in users {
        enqueue!(later(|| u64::from(user.id > 1)));
    }
    Ok(())
}

fn main() {}
