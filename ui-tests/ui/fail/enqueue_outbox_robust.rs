//! `robust` is about a hook's failure after COMMIT: a durable job has none.
use oncommit::memory::Memory;
use oncommit::outbox::Job;
use oncommit::{Conn, Error, atomic, enqueue};

#[derive(serde::Serialize)]
struct Welcome {
    user_id: u64,
}

impl Job for Welcome {
    const TOPIC: &'static str = "welcome";
}

#[atomic]
async fn sign_up(conn: &mut Conn<Memory>, user_id: u64) -> Result<(), Error> {
    conn.execute("INSERT");
    enqueue!(outbox => Welcome { user_id }, robust);
    Ok(())
}

fn main() {}
