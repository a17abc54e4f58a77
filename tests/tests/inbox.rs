//! The consumer inbox (`oncommit::outbox::inbox`) on SQLite, Postgres and MariaDB: a message
//! delivered again, one by one or by two consumers at once, has its effects committed once;
//! a handling that failed leaves no id, so the next delivery is handled; expired ids are
//! handled again. What the effects table holds is read on a connection of its own.

use std::time::Duration;

use oncommit::Conn;
use oncommit_tests::outbox::OutboxDb;
use oncommit_tests::race::AppError;
use oncommit_tests::unique_name;
use uuid::Uuid;

/// A consumer's handling of message `id`, whose effect is the row `n` of `table`: in one
/// transaction, the inbox first; `Ok(false)` when the message was handled before.
async fn handle<D: OutboxDb>(
    conn: &mut Conn<D::Conn>,
    table: &str,
    id: Uuid,
    n: i64,
) -> Result<bool, AppError> {
    conn.atomic_async(async |conn| {
        if !D::receive(conn, id).await? {
            return Ok(false);
        }
        D::insert(conn, table, n).await?;
        Ok(true)
    })
    .await
}

oncommit_tests::on_each_db!(oncommit_tests::outbox; redelivered_messages_take_effect_once);

async fn redelivered_messages_take_effect_once<D: OutboxDb>(db: D) {
    let table = unique_name("inbox_effects");
    db.create_table(&table).await;

    // Delivered twice, one after the other.
    let (mut a, mut b) = (db.writer().await, db.writer().await);
    let first = Uuid::now_v7();
    assert!(handle::<D>(&mut a, &table, first, 1).await.unwrap());
    assert!(!handle::<D>(&mut b, &table, first, 1).await.unwrap());
    assert!(!handle::<D>(&mut a, &table, first, 1).await.unwrap());
    assert_eq!(db.committed(&table).await, [1]);

    // Delivered twice at once, to two consumers, for 20 messages.
    let ids: Vec<(Uuid, i64)> = (0..20).map(|n| (Uuid::now_v7(), 100 + n)).collect();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (db, table, ids) = (db.clone(), table.clone(), ids.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = db.writer().await;
            let mut handled = 0;
            for (id, n) in ids {
                if handle::<D>(&mut conn, &table, id, n).await.unwrap() {
                    handled += 1;
                }
            }
            handled
        }));
    }
    let mut handled = 0;
    for task in tasks {
        handled += task.await.unwrap();
    }
    assert_eq!(
        handled,
        20,
        "{}: each message handled by one consumer",
        D::NAME
    );
    let mut expected = vec![1];
    expected.extend(100..120);
    assert_eq!(db.committed(&table).await, expected);

    // A handling that fails rolls its id back with its effects: the next delivery is handled.
    let failing = Uuid::now_v7();
    let error = handle::<D>(&mut a, &table, failing, 1).await.unwrap_err();
    assert!(matches!(error, AppError::Db(_)), "{error}");
    assert!(handle::<D>(&mut a, &table, failing, 2).await.unwrap());
    assert_eq!(db.committed(&table).await[..2], [1, 2]);

    // Expired ids are forgotten: a delivery after that is handled again. Ids younger than
    // the cutoff stay.
    assert_eq!(db.expire_inbox(Duration::from_secs(3600)).await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let expired = db.expire_inbox(Duration::ZERO).await.unwrap();
    assert!(expired >= 22, "{}: {expired} ids expired", D::NAME);
    assert!(handle::<D>(&mut a, &table, first, 3).await.unwrap());
    assert!(!handle::<D>(&mut b, &table, first, 3).await.unwrap());
}
