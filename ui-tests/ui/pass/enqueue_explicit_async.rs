//! `enqueue!(conn => CALL.await)` in async code without #[atomic]: awaited at once outside a
//! transaction, deferred inside one opened with `Conn::atomic_async`.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, enqueue};
use oncommit_ui_tests::{Log, block_on};

async fn notify(conn: &mut Conn<Memory>, log: &Log, what: String) -> Result<(), Error> {
    enqueue!(conn => log.push(what).await?)
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let log = Log::new();
    block_on(async {
        notify(&mut conn, &log, "now".to_owned()).await.unwrap();
        assert_eq!(log.entries(), ["now"]);
        let err = notify(&mut conn, &log, "fail".to_owned()).await.unwrap_err();
        assert!(err.committed());
        conn.atomic_async(async |conn| {
            notify(conn, &log, "later".to_owned()).await?;
            assert_eq!(log.entries(), ["now"]);
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
    });
    assert_eq!(log.entries(), ["now", "later"]);
    assert_eq!(db.statements(), ["BEGIN", "COMMIT"]);
}
