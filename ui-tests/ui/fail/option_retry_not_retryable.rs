//! `retry` needs to know which errors are transient: an error type without
//! `oncommit::Retryable` is one error, at the return type, saying what to add.
use oncommit::memory::Memory;
use oncommit::{Conn, atomic};

#[derive(Debug)]
struct AppError;

impl From<oncommit::Error> for AppError {
    fn from(_: oncommit::Error) -> Self {
        AppError
    }
}

#[atomic(retry = 2)]
fn save(conn: &mut Conn<Memory>) -> Result<(), AppError> {
    conn.execute("INSERT");
    Ok(())
}

fn main() {}
