//! A return type alias that is not a `Result`: the generated code needs `Result<T, E>`.
use oncommit::memory::Memory;
use oncommit::{Conn, atomic};

type Count = u64;

#[atomic]
fn save(conn: &mut Conn<Memory>) -> Count {
    conn.execute("INSERT");
    1
}

fn main() {}
