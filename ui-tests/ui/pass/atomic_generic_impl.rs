//! Methods of a generic struct, with the connection in a field (`conn = self.db`) or a
//! parameter, sync and async, on any backend.
use oncommit::memory::Memory;
use oncommit::{AsyncBackend, Conn, Error, SyncBackend, atomic, enqueue};
use oncommit_ui_tests::{Log, block_on};

struct Repo<C, T> {
    db: Conn<C>,
    log: Log,
    last: Option<T>,
}

impl<C: SyncBackend, T: Clone + std::fmt::Debug> Repo<C, T> {
    #[atomic(conn = self.db)]
    fn store(&mut self, value: T) -> Result<(), Error> {
        self.last = Some(value.clone());
        enqueue!(self.log.send(format!("{value:?}")));
        Ok(())
    }
}

impl<C: AsyncBackend + Send, T: std::fmt::Debug + Send + 'static> Repo<C, T> {
    #[atomic(conn = self.db, durable)]
    async fn store_async(&mut self, value: T) -> Result<(), Error> {
        enqueue!(self.log.push(format!("async {value:?}")).await);
        Ok(())
    }
}

struct Service {
    log: Log,
}

impl Service {
    #[atomic]
    fn run<C: SyncBackend>(&self, db: &mut Conn<C>, n: u8) -> Result<u8, Error> {
        enqueue!(self.log.send(format!("service {n}")));
        Ok(n * 2)
    }
}

fn main() {
    let db = Memory::new();
    let log = Log::new();
    let mut repo = Repo { db: Conn::new(db.clone()), log: log.clone(), last: None };
    repo.store(vec![1, 2]).unwrap();
    block_on(repo.store_async(vec![3])).unwrap();
    assert_eq!(repo.last, Some(vec![1, 2]));
    let service = Service { log: log.clone() };
    assert_eq!(service.run(&mut repo.db, 4).unwrap(), 8);
    assert_eq!(log.entries(), ["[1, 2]", "async [3]", "service 4"]);
    assert_eq!(db.statements(), ["BEGIN", "COMMIT", "BEGIN", "COMMIT", "BEGIN", "COMMIT"]);

    let other = Memory::new();
    let n = block_on(copy_async(
        &mut repo.db,
        &mut Conn::new(other.clone()),
        &log,
        vec!["a".into(), "b".into()],
    ))
    .unwrap();
    assert_eq!(n, 2);
    assert_eq!(log.entries()[3..], ["copied a", "copied b"]);
    assert_eq!(other.statements(), ["SELECT"]);
}

/// `conn = db` naming one of two connection parameters, in an async fn that takes a
/// by-value parameter (moved into the body, the connection is not).
#[atomic(conn = db)]
async fn copy_async(
    db: &mut Conn<Memory>,
    other: &mut Conn<Memory>,
    log: &Log,
    names: Vec<String>,
) -> Result<usize, Error> {
    other.execute("SELECT");
    for name in names.iter() {
        enqueue!(log.push(format!("copied {name}")).await);
    }
    Ok(names.len())
}
