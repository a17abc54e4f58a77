//! `#[tracing::instrument]` stacked with `#[atomic]`, in either order, on async and sync fns,
//! with `err`/`ret`, `retry` and a method with `conn = self.db`. Above `#[atomic]`, the
//! instrument macro runs first and moves the body into an `async move` block (or a `move`
//! closure); `#[atomic]` finds the body there and puts the transaction in its place, inside
//! the span.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::{AppError, Log, block_on};

#[tracing::instrument(skip(conn, log), err)]
#[atomic]
async fn below_err(conn: &mut Conn<Memory>, log: &Log, id: u64) -> Result<u64, AppError> {
    conn.execute(format!("INSERT {id}"));
    enqueue!(log.send(format!("below {id}")));
    if id == 0 {
        return Err(AppError::Invalid("id 0".to_owned()));
    }
    Ok(id)
}

#[atomic]
#[tracing::instrument(skip(conn, log), ret)]
async fn above(conn: &mut Conn<Memory>, log: &Log, id: u64) -> Result<u64, Error> {
    conn.execute(format!("INSERT {id}"));
    enqueue!(log.push(format!("above {id}")).await?);
    Ok(id)
}

#[tracing::instrument(skip_all)]
#[atomic(retry = 2)]
fn sync_below(conn: &mut Conn<Memory>, log: &Log, id: u64) -> Result<u64, Error> {
    conn.execute(format!("INSERT {id}"));
    enqueue!(log.send(format!("sync below {id}")));
    Ok(id)
}

#[tracing::instrument(skip_all, err(Debug), ret)]
#[atomic]
fn sync_below_err(conn: &mut Conn<Memory>, log: &Log, id: u64) -> Result<u64, Error> {
    conn.execute(format!("INSERT {id}"));
    enqueue!(log.send(format!("sync below err {id}")));
    Ok(id)
}

#[atomic]
#[tracing::instrument(skip_all)]
fn sync_above(conn: &mut Conn<Memory>, log: &Log, id: u64) -> Result<u64, Error> {
    conn.execute(format!("INSERT {id}"));
    enqueue!(log.send(format!("sync above {id}")));
    Ok(id)
}

struct Repo {
    db: Conn<Memory>,
    log: Log,
}

impl Repo {
    #[tracing::instrument(skip(self))]
    #[atomic(conn = self.db)]
    async fn save(&mut self, name: String) -> Result<(), Error> {
        self.db.execute(format!("INSERT {name}"));
        enqueue!(self.log.send(format!("saved {name}")));
        Ok(())
    }
}

fn main() {
    let memory = Memory::new();
    let mut conn = Conn::new(memory.clone());
    let log = Log::new();
    block_on(below_err(&mut conn, &log, 1)).unwrap();
    assert!(block_on(below_err(&mut conn, &log, 0)).is_err());
    block_on(above(&mut conn, &log, 2)).unwrap();
    sync_below(&mut conn, &log, 3).unwrap();
    sync_below_err(&mut conn, &log, 4).unwrap();
    sync_above(&mut conn, &log, 5).unwrap();
    let mut repo = Repo {
        db: Conn::new(Memory::new()),
        log: log.clone(),
    };
    block_on(repo.save("x".to_owned())).unwrap();
    assert_eq!(
        log.entries(),
        ["below 1", "above 2", "sync below 3", "sync below err 4", "sync above 5", "saved x"]
    );
    let statements = memory.statements();
    assert_eq!(statements.iter().filter(|s| *s == "BEGIN").count(), 6);
    assert_eq!(statements.iter().filter(|s| *s == "COMMIT").count(), 5);
    assert_eq!(statements.iter().filter(|s| *s == "ROLLBACK").count(), 1);
}
