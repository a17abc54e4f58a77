//! `#[atomic(retry = N, isolation = .., read_only)]`: a transient failure runs the whole
//! transaction again with its options, the failed attempt's hooks are dropped, a `&mut`
//! parameter passed on by the body is reborrowed for each attempt, and an error that is not
//! transient is returned after one attempt.
use oncommit::memory::Memory;
use oncommit::{Conn, Retryable, atomic, enqueue};
use oncommit_ui_tests::Log;

#[derive(Debug)]
enum AppError {
    Conflict,
    Invalid,
    Tx(oncommit::Error),
}

impl From<oncommit::Error> for AppError {
    fn from(error: oncommit::Error) -> Self {
        AppError::Tx(error)
    }
}

impl Retryable for AppError {
    fn is_transient(&self) -> bool {
        match self {
            AppError::Conflict => true,
            AppError::Invalid => false,
            AppError::Tx(error) => error.is_transient(),
        }
    }
}

fn touch(counter: &mut u32) {
    *counter += 1;
}

#[atomic(retry = 3, isolation = serializable)]
fn transfer(conn: &mut Conn<Memory>, log: &Log, conflicts: &mut u32) -> Result<u32, AppError> {
    conn.execute("UPDATE accounts");
    enqueue!(log.send(format!("after attempt with {conflicts} conflicts")));
    if *conflicts < 2 {
        touch(conflicts);
        return Err(AppError::Conflict);
    }
    Ok(*conflicts)
}

#[atomic(retry = 3, read_only)]
async fn report(conn: &mut Conn<Memory>, log: &Log, attempts: &mut u32) -> Result<(), AppError> {
    touch(attempts);
    enqueue!(log.send("reported".to_owned()));
    Err(AppError::Invalid)
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let log = Log::new();
    let mut conflicts = 0;
    assert_eq!(transfer(&mut conn, &log, &mut conflicts).unwrap(), 2);
    assert_eq!(log.entries(), ["after attempt with 2 conflicts"]);
    let serializable = "BEGIN ISOLATION LEVEL SERIALIZABLE";
    assert_eq!(
        db.statements(),
        [
            serializable, "UPDATE accounts", "ROLLBACK",
            serializable, "UPDATE accounts", "ROLLBACK",
            serializable, "UPDATE accounts", "COMMIT",
        ]
    );

    let mut attempts = 0;
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let result = runtime.block_on(report(&mut conn, &log, &mut attempts));
    assert!(matches!(result, Err(AppError::Invalid)));
    assert_eq!(attempts, 1, "not transient: one attempt");
    assert_eq!(log.entries(), ["after attempt with 2 conflicts"]);
}
