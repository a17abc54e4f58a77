//! `&self` methods: the receiver `self.log` (a place behind `&self`) is cloned into the hook.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::{Log, block_on};

struct Service {
    log: Log,
    prefix: String,
}

impl Service {
    #[atomic]
    fn create(&self, conn: &mut Conn<Memory>, id: u32) -> Result<(), Error> {
        conn.execute(format!("INSERT {id}"));
        enqueue!(self.log.send(format!("{}{id}", self.prefix)));
        Ok(())
    }

    #[atomic]
    async fn create_async(&self, conn: &mut Conn<Memory>, id: u32) -> Result<(), Error> {
        enqueue!(self.log.push(format!("{}{id}", self.prefix)).await);
        Ok(())
    }
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let service = Service { log: Log::new(), prefix: "user ".to_owned() };
    service.create(&mut conn, 1).unwrap();
    block_on(service.create_async(&mut conn, 2)).unwrap();
    assert_eq!(service.log.entries(), ["user 1", "user 2"]);
    assert_eq!(db.statements(), ["BEGIN", "INSERT 1", "COMMIT", "BEGIN", "COMMIT"]);
}
