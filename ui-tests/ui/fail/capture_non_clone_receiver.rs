//! A receiver behind a reference is cloned into the hook: it must be `Clone`.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct Mailer;

impl Mailer {
    fn send(&self, _id: u64) {}
}

#[atomic]
fn save(conn: &mut Conn<Memory>, mailer: &Mailer, id: u64) -> Result<(), Error> {
    conn.execute("INSERT");
    enqueue!(mailer.send(id));
    Ok(())
}

fn main() {}
