//! A non-`Result` return type is rejected on the type.
use oncommit::memory::Memory;
use oncommit::{Conn, atomic};

#[atomic]
fn save(conn: &mut Conn<Memory>) -> Option<u64> {
    conn.execute("INSERT");
    Some(1)
}

fn main() {}
