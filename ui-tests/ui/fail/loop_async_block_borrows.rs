//! A non-`move` async block that borrows a loop variable (`&user`, `admin.name.len()`,
//! `format!("{}", id)`): the check names it.
use std::future::Future;

use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct User {
    id: u64,
    name: String,
}

async fn audit(user: &User) -> u64 {
    user.id
}

async fn spawn_later<T>(job: impl Future<Output = T>) {
    let _ = job.await;
}

#[atomic]
async fn schedule(conn: &mut Conn<Memory>, users: Vec<User>, admins: Vec<User>, admin_ids: Vec<u64>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for user in users {
        enqueue!(spawn_later(async { audit(&user).await }).await);
    }
    for admin in admins {
        enqueue!(spawn_later(async { admin.name.len() }).await);
    }
    for admin_id in admin_ids {
        enqueue!(spawn_later(async { format!("{}", admin_id) }).await);
    }
    Ok(())
}

fn main() {}
