//! `enqueue!(outbox => JOB)`: a durable job on the #[atomic] fn's connection, serialized at the
//! `enqueue!` (so it may borrow a loop variable), in sync and async fns, loops, nested blocks
//! and match arms; its value is the message id, and a failure is the fn's error (through `?`).
//! `enqueue!(conn => outbox => JOB)` evaluates to the `Result`. A rolled-back nested block
//! drops its jobs. `Memory` has no outbox table, so its COMMIT refuses the jobs: the rows on
//! real databases are checked by `tests/tests/outbox.rs`.
use std::collections::HashMap;

use oncommit::memory::Memory;
use oncommit::outbox::Job;
use oncommit::{Conn, Error, ErrorKind, atomic, enqueue};
use oncommit_ui_tests::{AppError, block_on};

#[derive(serde::Serialize)]
struct Welcome<'a> {
    name: &'a str,
    user_id: u64,
}

impl Job for Welcome<'_> {
    const TOPIC: &'static str = "welcome";
}

/// Serializing it fails: JSON object keys must be strings.
#[derive(serde::Serialize)]
struct Unserializable(HashMap<(u8, u8), u8>);

impl Job for Unserializable {
    const TOPIC: &'static str = "never";
}

#[atomic]
async fn rejected(conn: &mut Conn<Memory>) -> Result<(), AppError> {
    enqueue!(outbox => Welcome { name: "dropped", user_id: 0 });
    assert_eq!(conn.pending_jobs(), 6);
    Err(AppError::Invalid("rolled back".to_owned()))
}

#[atomic]
async fn sign_up(conn: &mut Conn<Memory>, names: Vec<String>) -> Result<Vec<String>, AppError> {
    let mut ids = Vec::new();
    let mut user_id = 0;
    for name in names {
        user_id += 1;
        // borrows the loop variable `name`: fine, the job is serialized here
        let id = enqueue!(outbox => Welcome { name: &name, user_id });
        assert_eq!(id.get_version_num(), 7);
        ids.push(id.to_string());
    }
    {
        let id = match user_id {
            0 => enqueue!(outbox => Welcome { name: "nobody", user_id }),
            _ => {
                let job = Welcome { name: "last", user_id };
                let first = enqueue!(outbox => job);
                // `job` was borrowed, not moved: a second job, its own id.
                assert_ne!(enqueue!(outbox => job), first);
                first
            }
        };
        ids.push(id.to_string());
    }
    assert_eq!(conn.pending_jobs(), 4);
    let explicit: Result<_, Error> = enqueue!(conn => outbox => Welcome { name: "x", user_id: 9 });
    ids.push(explicit?.to_string());
    assert!(rejected(conn).await.is_err());
    assert_eq!(conn.pending_jobs(), 5, "the rolled-back block's job is dropped");
    Ok(ids)
}

#[atomic]
fn sync_job(conn: &mut Conn<Memory>) -> Result<usize, Error> {
    let id = enqueue!(outbox => Welcome { name: "sync", user_id: 1 });
    assert_eq!(id.get_version_num(), 7);
    Ok(conn.pending_jobs())
}

#[atomic]
fn fails_to_serialize(conn: &mut Conn<Memory>, reached: &mut bool) -> Result<(), AppError> {
    let mut keys = HashMap::new();
    keys.insert((1, 2), 3);
    enqueue!(outbox => Unserializable(keys));
    *reached = true;
    Ok(())
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let names = vec!["ann".to_owned(), "bob".to_owned()];
    // Memory cannot write the outbox: the COMMIT fails, and nothing is committed.
    let Err(AppError::Db(error)) = block_on(sign_up(&mut conn, names)) else {
        panic!("Memory has no outbox table")
    };
    assert_eq!(error.kind(), ErrorKind::Outbox, "{error}");
    assert_eq!(
        db.statements(),
        ["BEGIN", "SAVEPOINT oncommit_1", "ROLLBACK TO SAVEPOINT oncommit_1", "ROLLBACK"]
    );
    // A sync COMMIT cannot write durable jobs: rolled back.
    let error = sync_job(&mut conn).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Outbox, "{error}");
    // A job that cannot be serialized is the fn's error at the `enqueue!`.
    let mut reached = false;
    let Err(AppError::Db(error)) = fails_to_serialize(&mut conn, &mut reached) else {
        panic!("serializing the job fails")
    };
    assert_eq!(error.kind(), ErrorKind::Outbox, "{error}");
    assert!(!reached, "`?` returned at the `enqueue!`");
    // The explicit form outside a transaction: refused.
    let outside = enqueue!(&mut conn => outbox => Welcome { name: "outside", user_id: 1 });
    assert_eq!(outside.unwrap_err().kind(), ErrorKind::Outbox);
}
