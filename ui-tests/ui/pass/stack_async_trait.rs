//! `#[atomic]` on the methods of an `#[async_trait]` impl: the impl's macro runs first and
//! turns each async fn into a sync fn returning `Pin<Box<dyn Future + Send>>`, its body in
//! `Box::pin(async move { .. })` with `self` renamed; `#[atomic]` finds the body there. With
//! a connection parameter, with `conn = self.db`, generic over the backend with `retry`, and
//! under `#[tracing::instrument]`.
use async_trait::async_trait;
use oncommit::memory::Memory;
use oncommit::{AsyncBackend, Conn, Error, atomic, enqueue};
use oncommit_ui_tests::{Log, block_on};

#[async_trait]
trait Users {
    async fn sign_up(&self, conn: &mut Conn<Memory>, id: u64) -> Result<u64, Error>;
}

struct Service {
    log: Log,
}

#[async_trait]
impl Users for Service {
    #[atomic]
    async fn sign_up(&self, conn: &mut Conn<Memory>, id: u64) -> Result<u64, Error> {
        conn.execute(format!("INSERT {id}"));
        enqueue!(self.log.send(format!("welcome {id}")));
        enqueue!(self.log.push(format!("async {id}")).await?);
        Ok(id)
    }
}

#[async_trait]
trait Renames {
    async fn rename(&mut self, name: String) -> Result<(), Error>;
}

struct Repo {
    log: Log,
    db: Conn<Memory>,
}

#[async_trait]
impl Renames for Repo {
    #[atomic(conn = self.db)]
    async fn rename(&mut self, name: String) -> Result<(), Error> {
        self.db.execute(format!("UPDATE {name}"));
        enqueue!(self.log.send(format!("renamed {name}")));
        Ok(())
    }
}

#[async_trait]
trait Store<C: AsyncBackend + Send> {
    async fn save(&self, conn: &mut Conn<C>, id: u64) -> Result<(), Error>;
}

#[async_trait]
impl<C: AsyncBackend + Send> Store<C> for Log {
    #[tracing::instrument(skip_all)]
    #[atomic(retry = 1)]
    async fn save(&self, conn: &mut Conn<C>, id: u64) -> Result<(), Error> {
        enqueue!(self.send(format!("saved {id}")));
        Ok(())
    }
}

fn main() {
    let memory = Memory::new();
    let mut conn = Conn::new(memory.clone());
    let log = Log::new();
    let service = Service { log: log.clone() };
    assert_eq!(block_on(service.sign_up(&mut conn, 7)).unwrap(), 7);
    let mut repo = Repo {
        log: log.clone(),
        db: Conn::new(Memory::new()),
    };
    block_on(repo.rename("ada".to_owned())).unwrap();
    block_on(Store::save(&log, &mut conn, 8)).unwrap();
    assert_eq!(log.entries(), ["welcome 7", "async 7", "renamed ada", "saved 8"]);
    assert_eq!(memory.statements(), ["BEGIN", "INSERT 7", "COMMIT", "BEGIN", "COMMIT"]);
}
