//! Receivers of `&mut self` methods and `&mut T` receivers: the hook owns its clone of the
//! receiver and calls the method on it. A queue whose `push` takes `&mut self` (apalis's
//! `TaskSink::push`, redis's `AsyncCommands::rpush`), sync and async, through a place, a
//! field and a temporary; and `m: &mut Mailer` from `iter_mut()` in a loop, which the hook
//! clones as a `Mailer`.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::{Log, QueueError, block_on};

/// A producer whose calls take `&mut self`, like a queue client that buffers or holds a
/// connection it must mutate.
#[derive(Clone)]
struct Sink {
    log: Log,
    pushed: u32,
}

impl Sink {
    async fn push(&mut self, job: String) -> Result<(), QueueError> {
        tokio::task::yield_now().await;
        self.pushed += 1;
        self.log.send(format!("{job} (push {} of this clone)", self.pushed));
        Ok(())
    }

    fn push_now(&mut self, job: String) {
        self.pushed += 1;
        self.log.send(format!("{job} now (push {} of this clone)", self.pushed));
    }
}

#[derive(Clone)]
struct Mailer {
    log: Log,
    name: String,
    sent: u32,
}

impl Mailer {
    fn send(&self, to: u64) {
        self.log.send(format!("{} -> {to}", self.name));
    }

    fn send_counted(&mut self, to: u64) {
        self.sent += 1;
        self.log.send(format!("{} -> {to}, sent {}", self.name, self.sent));
    }
}

struct Service {
    sink: Sink,
}

#[atomic]
async fn sign_up(
    conn: &mut Conn<Memory>,
    sink: &mut Sink,
    service: &Service,
    mailers: &mut [Mailer],
    id: u64,
) -> Result<(), Error> {
    conn.execute(format!("INSERT {id}"));
    enqueue!(sink.push(format!("welcome {id}")).await?);
    enqueue!(sink.push_now(format!("audit {id}")));
    enqueue!(service.sink.clone().push(format!("temporary {id}")).await?);
    enqueue!(service.sink.push_now(format!("field {id}")));
    for m in mailers.iter_mut() {
        m.name.push('!');
        enqueue!(m.send(id));
        enqueue!(m.send_counted(id));
    }
    Ok(())
}

/// A `&mut self` method's own `self` is a `&mut Batch` receiver: the hook gets a clone.
#[derive(Clone)]
struct Batch {
    log: Log,
    size: usize,
}

impl Batch {
    fn flush(&mut self) {
        self.size = 0;
        self.log.send("flushed".to_owned());
    }

    #[atomic]
    fn close(&mut self, conn: &mut Conn<Memory>) -> Result<(), Error> {
        conn.execute("UPDATE batches SET closed = true");
        enqueue!(self.flush());
        Ok(())
    }
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let log = Log::new();
    let mut sink = Sink {
        log: log.clone(),
        pushed: 0,
    };
    let service = Service {
        sink: Sink {
            log: log.clone(),
            pushed: 10,
        },
    };
    let mut mailers = vec![
        Mailer {
            log: log.clone(),
            name: "a".to_owned(),
            sent: 0,
        },
        Mailer {
            log: log.clone(),
            name: "b".to_owned(),
            sent: 5,
        },
    ];
    block_on(sign_up(&mut conn, &mut sink, &service, &mut mailers, 7)).unwrap();
    assert_eq!(
        log.entries(),
        [
            "welcome 7 (push 1 of this clone)",
            "audit 7 now (push 1 of this clone)",
            "temporary 7 (push 11 of this clone)",
            "field 7 now (push 11 of this clone)",
            "a! -> 7",
            "a! -> 7, sent 1",
            "b! -> 7",
            "b! -> 7, sent 6",
        ]
    );
    // Each hook mutated its own clone; the values the caller holds are as they were (the
    // loop's own change to the names is kept).
    assert_eq!(sink.pushed, 0);
    assert_eq!(service.sink.pushed, 10);
    assert_eq!(mailers[0].name, "a!");
    assert_eq!((mailers[0].sent, mailers[1].sent), (0, 5));
    assert_eq!(db.statements(), ["BEGIN", "INSERT 7", "COMMIT"]);

    let mut batch = Batch {
        log: log.clone(),
        size: 3,
    };
    batch.close(&mut conn).unwrap();
    assert_eq!(batch.size, 3, "the hook flushed its own clone");
    assert_eq!(log.entries().last().map(String::as_str), Some("flushed"));
}
