//! `conn` needs a value: `#[atomic(conn = self.db)]`.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic};

struct Repo {
    db: Conn<Memory>,
}

impl Repo {
    #[atomic(conn)]
    fn save(&mut self) -> Result<(), Error> {
        self.db.execute("INSERT");
        Ok(())
    }
}

fn main() {}
