//! An option given twice.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic};

struct Repo {
    db: Conn<Memory>,
    other: Conn<Memory>,
}

impl Repo {
    #[atomic(conn = self.db, conn = self.other)]
    fn save(&mut self) -> Result<(), Error> {
        self.db.execute("INSERT");
        self.other.execute("INSERT");
        Ok(())
    }
}

fn main() {}
