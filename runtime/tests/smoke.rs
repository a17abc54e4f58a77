use oncommit::{Conn, Error, memory::Memory};
use std::sync::{Arc, Mutex};

#[test]
fn smoke() {
    let db = Memory::new();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let mut conn = Conn::new(db.clone());
    let r = ran.clone();
    conn.atomic(|conn| {
        let r2 = r.clone();
        conn.on_commit(move || r2.lock().unwrap().push(1))?;
        let _ = conn.atomic(|conn| {
            let r3 = r.clone();
            conn.on_commit(move || r3.lock().unwrap().push(2))?;
            Err::<(), Error>(Error::from(
                conn.durable(|_| Ok::<_, Error>(())).unwrap_err(),
            ))
        });
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(*ran.lock().unwrap(), [1]);
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "ROLLBACK TO SAVEPOINT oncommit_1",
            "COMMIT"
        ]
    );
}

#[tokio::test]
async fn cancel() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let fut = conn.atomic_async(async |conn| {
        conn.on_commit(|| -> Result<(), Error> { panic!("must not run") })?;
        std::future::pending::<()>().await;
        Ok::<_, Error>(())
    });
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(10), fut)
            .await
            .is_err()
    );
    assert_eq!(conn.depth(), 0);
    conn.atomic_async(async |_| Ok::<_, Error>(()))
        .await
        .unwrap();
    assert_eq!(db.statements(), ["BEGIN", "ROLLBACK", "BEGIN", "COMMIT"]);
    let handle = tokio::spawn(async move { conn.atomic_async(async |_| Ok::<_, Error>(())).await });
    handle.await.unwrap().unwrap();
}
