//! The future of an async #[atomic] fn is `Send` when its captures are, so it can be spawned
//! on a multi-threaded runtime (as web handlers are), also when a by-value parameter is `Send`
//! but not `Sync`.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::Log;

#[atomic]
async fn handler(conn: &mut Conn<Memory>, log: &Log, ids: Vec<u64>) -> Result<usize, Error> {
    for id in ids {
        conn.execute(format!("INSERT {id}"));
        enqueue!(log.push(format!("job {id}")).await?);
        tokio::task::yield_now().await;
        enqueue!(log.send(format!("mail {id}")));
    }
    Ok(2)
}

/// `Cell` is `Send` but not `Sync`: the body owns it, so the future stays `Send`.
#[atomic]
async fn counted(conn: &mut Conn<Memory>, log: &Log, hits: std::cell::Cell<u32>) -> Result<u32, Error> {
    hits.set(hits.get() + 1);
    tokio::task::yield_now().await;
    let seen = hits.get();
    enqueue!(log.send(format!("hits {seen}")));
    conn.execute("UPDATE hits");
    Ok(seen)
}

/// The connection in a field: the future stays `Send` (the body borrows fields, not `self`).
struct Service {
    db: Conn<Memory>,
    log: Log,
}

impl Service {
    #[atomic(conn = self.db)]
    async fn handle(&mut self, id: u64) -> Result<u64, Error> {
        self.db.execute(format!("INSERT {id}"));
        tokio::task::yield_now().await;
        enqueue!(self.log.push(format!("service {id}")).await?);
        Ok(id)
    }
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let db = Memory::new();
    let log = Log::new();
    let (db2, log2) = (db.clone(), log.clone());
    let task = runtime.spawn(async move {
        let mut conn = Conn::new(db2);
        let n = assert_send(handler(&mut conn, &log2, vec![1, 2])).await?;
        let hits = assert_send(counted(&mut conn, &log2, std::cell::Cell::new(41))).await?;
        assert_eq!(hits, 42);
        let mut service = Service { db: conn, log: log2 };
        assert_eq!(assert_send(service.handle(3)).await?, 3);
        Ok::<_, Error>(n)
    });
    let n = runtime.block_on(task).unwrap().unwrap();
    assert_eq!(n, 2);
    assert_eq!(log.entries(), ["job 1", "mail 1", "job 2", "mail 2", "hits 42", "service 3"]);
    assert_eq!(
        db.statements(),
        [
            "BEGIN", "INSERT 1", "INSERT 2", "COMMIT",
            "BEGIN", "UPDATE hits", "COMMIT",
            "BEGIN", "INSERT 3", "COMMIT",
        ]
    );
}
