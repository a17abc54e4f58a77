//! A `move` closure that uses the borrow in a tuple (`pair.1`) or a struct (`job.to`) holds
//! it; the help says what to do, not which method, since the type behind it is not known.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct User {
    id: u64,
    email: String,
}

struct Job<'a> {
    id: u64,
    to: &'a String,
}

fn later(job: impl FnOnce() -> usize) {
    let _ = job();
}

#[atomic]
fn notify(conn: &mut Conn<Memory>, users: Vec<User>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for user in users {
        let pair = (user.id, &user.email);
        enqueue!(later(move || pair.1.len()));
        let job = Job { id: user.id, to: &user.email };
        enqueue!(later(move || job.to.len() + job.id as usize));
    }
    Ok(())
}

fn main() {}
