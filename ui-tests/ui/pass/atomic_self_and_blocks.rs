//! `self` as the receiver (cloned: `Self: Clone`), `enqueue!` inside an async block and a
//! non-move closure of the body.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::{Log, block_on};

#[derive(Clone)]
struct Notifier {
    log: Log,
    name: &'static str,
}

impl Notifier {
    fn notify(&self, n: u32) {
        self.log.send(format!("{} {n}", self.name));
    }

    #[atomic]
    fn run(&self, conn: &mut Conn<Memory>, n: u32) -> Result<(), Error> {
        enqueue!(self.notify(n));
        conn.execute("UPDATE");
        Ok(())
    }

    #[atomic]
    async fn run_async(&self, conn: &mut Conn<Memory>, n: u32) -> Result<(), Error> {
        async {
            enqueue!(self.notify(n));
        }
        .await;
        let mut twice = |k: u32| enqueue!(self.notify(n * 10 + k));
        twice(1);
        twice(2);
        Ok(())
    }
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let notifier = Notifier { log: Log::new(), name: "n" };
    notifier.run(&mut conn, 1).unwrap();
    block_on(notifier.run_async(&mut conn, 2)).unwrap();
    assert_eq!(notifier.log.entries(), ["n 1", "n 2", "n 21", "n 22"]);
    assert_eq!(db.statements(), ["BEGIN", "UPDATE", "COMMIT", "BEGIN", "COMMIT"]);
}
