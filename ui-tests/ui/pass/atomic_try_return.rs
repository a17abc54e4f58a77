//! `?` and `return` in the body keep their meaning: `Err` rolls back (no hook runs),
//! an early `return Ok` commits.
use oncommit::memory::Memory;
use oncommit::{Conn, atomic, enqueue};
use oncommit_ui_tests::{AppError, Log, block_on};

fn validate(n: i32) -> Result<i32, AppError> {
    if n < 0 { Err(AppError::Invalid(format!("{n}"))) } else { Ok(n) }
}

#[atomic]
fn save(conn: &mut Conn<Memory>, log: &Log, n: i32) -> Result<&'static str, AppError> {
    enqueue!(log.send(format!("saved {n}")));
    let n = validate(n)?;
    if n == 0 {
        return Ok("zero");
    }
    conn.execute(format!("INSERT {n}"));
    if n > 100 {
        return Err(AppError::Invalid("too big".to_owned()));
    }
    Ok("positive")
}

#[atomic]
async fn save_async(conn: &mut Conn<Memory>, log: &Log, n: i32) -> Result<i32, AppError> {
    enqueue!(log.push(format!("async {n}")).await);
    let n = validate(n)?;
    if n == 0 {
        return Ok(-1);
    }
    Ok(n)
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let log = Log::new();
    assert!(matches!(save(&mut conn, &log, -1), Err(AppError::Invalid(_))));
    assert_eq!(save(&mut conn, &log, 0).unwrap(), "zero");
    assert_eq!(save(&mut conn, &log, 5).unwrap(), "positive");
    assert!(matches!(save(&mut conn, &log, 500), Err(AppError::Invalid(_))));
    assert!(block_on(save_async(&mut conn, &log, -3)).is_err());
    assert_eq!(block_on(save_async(&mut conn, &log, 0)).unwrap(), -1);
    assert_eq!(log.entries(), ["saved 0", "saved 5", "async 0"]);
    assert_eq!(
        db.statements(),
        [
            "BEGIN", "ROLLBACK",
            "BEGIN", "COMMIT",
            "BEGIN", "INSERT 5", "COMMIT",
            "BEGIN", "INSERT 500", "ROLLBACK",
            "BEGIN", "ROLLBACK",
            "BEGIN", "COMMIT",
        ]
    );
}
