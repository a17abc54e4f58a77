//! Options are words, not strings.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic};

#[atomic("durable")]
fn save(conn: &mut Conn<Memory>) -> Result<(), Error> {
    conn.execute("INSERT");
    Ok(())
}

fn main() {}
