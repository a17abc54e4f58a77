//! An async hook (`.await`) needs an async #[atomic] fn.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

async fn push(_id: u64) {}

#[atomic]
fn save(conn: &mut Conn<Memory>, id: u64) -> Result<(), Error> {
    conn.execute("INSERT");
    enqueue!(push(id).await);
    Ok(())
}

fn main() {}
