//! The explicit form with an async hook inside a sync #[atomic] fn.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

async fn push(_id: u64) {}

#[atomic]
fn save(conn: &mut Conn<Memory>, id: u64) -> Result<(), Error> {
    enqueue!(conn => push(id).await)?;
    Ok(())
}

fn main() {}
