//! An unknown #[atomic] option: the error is on the option and lists the accepted forms.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

fn send(_id: u64) {}

#[atomic(durabel)]
fn save(conn: &mut Conn<Memory>, id: u64) -> Result<(), Error> {
    conn.execute("INSERT");
    enqueue!(send(id));
    Ok(())
}

fn main() {}
