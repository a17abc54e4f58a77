//! An async #[atomic] fn with a sync hook and an async hook (`.await`): both wait for COMMIT
//! and run in registration order.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::{Log, block_on};

#[atomic]
async fn sign_up(conn: &mut Conn<Memory>, log: &Log, email: String) -> Result<u64, Error> {
    conn.execute(format!("INSERT {email}"));
    enqueue!(log.send(format!("sync {email}")));
    enqueue!(log.push(format!("async {email}")).await);
    tokio::task::yield_now().await;
    assert!(log.is_empty(), "nothing runs before COMMIT");
    Ok(7)
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let log = Log::new();
    let id = block_on(sign_up(&mut conn, &log, "a@x".to_owned())).unwrap();
    assert_eq!(id, 7);
    assert_eq!(log.entries(), ["sync a@x", "async a@x"]);
    assert_eq!(db.statements(), ["BEGIN", "INSERT a@x", "COMMIT"]);
}
