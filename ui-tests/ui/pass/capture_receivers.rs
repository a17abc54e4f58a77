//! Receivers: a temporary is moved (no `Clone` needed), a place behind `&` is cloned, an
//! `Arc` place clones the `Arc`, a path call moves its arguments, turbofish is kept.
use std::sync::Arc;

use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::Log;

/// Not `Clone`.
struct Mailer {
    log: Log,
}

impl Mailer {
    fn new(log: &Log) -> Self {
        Mailer { log: log.clone() }
    }
    fn send(&self, what: &str) {
        self.log.send(what.to_owned());
    }
    fn consume(self, what: String) {
        self.log.send(what);
    }
    fn parse_send<T: std::str::FromStr + std::fmt::Debug>(&self, what: &'static str) {
        self.log.send(format!("{:?}", what.parse::<T>().ok()));
    }
}

fn deliver(mailer: Mailer, what: String) {
    mailer.log.send(what);
}

#[atomic]
fn save(conn: &mut Conn<Memory>, log: &Log, shared: &Arc<Mailer>) -> Result<(), Error> {
    enqueue!(Mailer::new(log).send("temporary receiver"));
    enqueue!(shared.send("arc receiver"));
    let owned = Mailer::new(log);
    enqueue!(deliver(owned, "moved argument".to_owned()));
    enqueue!(Mailer::consume(Mailer::new(log), "path call".to_owned()));
    enqueue!(shared.parse_send::<u8>("42"));
    enqueue!((*shared).send("deref receiver"));
    Ok(())
}

fn main() {
    let mut conn = Conn::new(Memory::new());
    let log = Log::new();
    let shared = Arc::new(Mailer::new(&log));
    save(&mut conn, &log, &shared).unwrap();
    assert_eq!(
        log.entries(),
        ["temporary receiver", "arc receiver", "moved argument", "path call", "Some(42)", "deref receiver"]
    );
    assert_eq!(Arc::strong_count(&shared), 1, "the hook's clone of the Arc was dropped");
}
