//! `name.trim()`: a borrowing method on a loop variable.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

fn greet(name: impl AsRef<str>) {
    let _ = name.as_ref().len();
}

#[atomic]
fn greet_all(conn: &mut Conn<Memory>, names: Vec<String>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for name in names {
        enqueue!(greet(name.trim()));
    }
    Ok(())
}

fn main() {}
