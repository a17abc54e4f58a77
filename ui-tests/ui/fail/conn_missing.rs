//! No `&mut Conn<..>` parameter and no `conn = ...`: the error is on the parameter list.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

fn send(_id: u64) {}

struct Repo {
    db: Conn<Memory>,
}

impl Repo {
    #[atomic]
    fn save(&mut self, id: u64) -> Result<(), Error> {
        self.db.execute("INSERT");
        enqueue!(send(id));
        Ok(())
    }
}

// a shared reference is not the connection either
#[atomic]
fn read(conn: &Conn<Memory>) -> Result<usize, Error> {
    Ok(conn.depth())
}

fn main() {}
