//! The error type must convert from `oncommit::Error`; the error points at the return type.
use oncommit::memory::Memory;
use oncommit::{Conn, atomic};

#[atomic]
fn save(conn: &mut Conn<Memory>) -> Result<(), String> {
    conn.execute("INSERT");
    Ok(())
}

fn main() {}
