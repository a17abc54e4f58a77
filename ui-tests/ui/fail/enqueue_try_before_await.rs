//! `?` goes after `.await`: `CALL.await?`.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

async fn push(_id: u64) -> Result<(), std::io::Error> {
    Ok(())
}

#[atomic]
async fn save(conn: &mut Conn<Memory>, id: u64) -> Result<(), Error> {
    conn.execute("INSERT");
    enqueue!(push(id)?.await);
    Ok(())
}

fn main() {}
