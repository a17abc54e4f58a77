//! `#[atomic(conn = self.db)]`: the connection is a field; the body uses other fields freely.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::{Log, block_on};

struct Repo {
    db: Conn<Memory>,
    log: Log,
}

impl Repo {
    #[atomic(conn = self.db)]
    fn save(&mut self, name: &str) -> Result<(), Error> {
        self.db.execute(format!("INSERT {name}"));
        let before = self.log.entries().len();
        enqueue!(self.log.send(format!("saved {name}")));
        assert_eq!(self.log.entries().len(), before, "nothing runs before COMMIT");
        Ok(())
    }

    #[atomic(conn = self.db)]
    async fn save_async(&mut self, name: &str) -> Result<(), Error> {
        self.db.execute(format!("INSERT {name}"));
        enqueue!(self.log.push(format!("saved {name}")).await?);
        Ok(())
    }

    #[atomic(conn = self.db)]
    fn save_both(&mut self) -> Result<(), Error> {
        self.save("inner")?; // a savepoint on the same field
        enqueue!(self.log.send("outer".to_owned()));
        Ok(())
    }
}

fn main() {
    let db = Memory::new();
    let mut repo = Repo { db: Conn::new(db.clone()), log: Log::new() };
    repo.save("a").unwrap();
    block_on(repo.save_async("b")).unwrap();
    repo.save_both().unwrap();
    assert_eq!(repo.log.entries(), ["saved a", "saved b", "saved inner", "outer"]);
    assert_eq!(
        db.statements(),
        [
            "BEGIN", "INSERT a", "COMMIT",
            "BEGIN", "INSERT b", "COMMIT",
            "BEGIN", "SAVEPOINT oncommit_1", "INSERT inner", "RELEASE SAVEPOINT oncommit_1", "COMMIT",
        ]
    );
}
