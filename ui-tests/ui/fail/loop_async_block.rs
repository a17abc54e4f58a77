//! A non-`move` async block that mentions a loop variable borrows it.
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
