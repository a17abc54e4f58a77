//! `conn = EXPR` must name a `Conn`.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic};

struct Repo {
    db: Conn<Memory>,
    name: String,
}

impl Repo {
    #[atomic(conn = self.name)]
    fn save(&mut self) -> Result<(), Error> {
        self.db.execute("INSERT");
        Ok(())
    }
}

fn main() {}
