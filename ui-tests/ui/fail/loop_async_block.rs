//! A non-`move` async block that returns a field of a loop variable: a `Copy` field is
//! captured by reference, a non-`Copy` one moved, which the check cannot tell without types,
//! so rustc's own error (E0373, with its `async move` help) is the message here.
use std::future::Future;

use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct User {
    id: u64,
}

async fn spawn_later(job: impl Future<Output = u64>) {
    let _ = job.await;
}

#[atomic]
async fn schedule(conn: &mut Conn<Memory>, users: Vec<User>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for user in users {
        enqueue!(spawn_later(async { user.id }).await);
    }
    Ok(())
}

fn main() {}
