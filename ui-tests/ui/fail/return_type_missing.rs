//! An #[atomic] fn must return a `Result`: COMMIT and hooks can fail.
use oncommit::memory::Memory;
use oncommit::{Conn, atomic};

#[atomic]
fn save(conn: &mut Conn<Memory>) {
    conn.execute("INSERT");
}

fn main() {}
