//! `durable` is a flag: giving it a value is an error on the value, with the accepted forms.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic};

#[atomic(durable = true)]
fn save(conn: &mut Conn<Memory>) -> Result<(), Error> {
    conn.execute("INSERT");
    Ok(())
}

fn main() {}
