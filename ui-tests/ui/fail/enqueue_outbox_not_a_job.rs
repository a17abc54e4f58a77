//! `enqueue!(outbox => JOB)` needs a type implementing `oncommit::outbox::Job`.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

#[derive(serde::Serialize)]
struct Welcome {
    user_id: u64,
}

#[atomic]
async fn sign_up(conn: &mut Conn<Memory>, user_id: u64) -> Result<(), Error> {
    conn.execute("INSERT");
    enqueue!(outbox => Welcome { user_id });
    Ok(())
}

fn main() {}
