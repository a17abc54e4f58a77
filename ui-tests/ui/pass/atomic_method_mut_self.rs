//! `&mut self` methods: the body mutates `self`, the hook sees the value at the `enqueue!`.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::Log;

struct Counter {
    log: Log,
    count: u32,
}

impl Counter {
    #[atomic]
    fn bump(&mut self, conn: &mut Conn<Memory>) -> Result<u32, Error> {
        self.count += 1;
        conn.execute(format!("UPDATE count = {}", self.count));
        enqueue!(self.log.send(format!("count {}", self.count)));
        self.count += 10; // after the enqueue!: not what the hook sees
        Ok(self.count)
    }
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let mut counter = Counter { log: Log::new(), count: 0 };
    assert_eq!(counter.bump(&mut conn).unwrap(), 11);
    assert_eq!(counter.bump(&mut conn).unwrap(), 22);
    assert_eq!(counter.log.entries(), ["count 1", "count 12"]);
    assert_eq!(
        db.statements(),
        ["BEGIN", "UPDATE count = 1", "COMMIT", "BEGIN", "UPDATE count = 12", "COMMIT"]
    );
}
