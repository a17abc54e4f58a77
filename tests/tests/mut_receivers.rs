//! `enqueue!` on calls that take `&mut self` and on `&mut T` receivers, against the local
//! Redis (`REDIS_URL`) after the COMMIT of a real SQLite transaction (a database file):
//! redis's `AsyncCommands::rpush` on a `MultiplexedConnection`, and a `&mut Mailer` from
//! `iter_mut()` in a loop. What Redis holds is read from a separate connection.
//!
//! The hook owns a clone of the receiver (of the `T` behind a `&mut T`), so it may call a
//! `&mut self` method on it; the caller's value is not touched.

use oncommit::{Conn, atomic, enqueue};
use oncommit_tests::db::TestDb;
use oncommit_tests::race::AppError;
use oncommit_tests::{service_url, unique_name};
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use sqlx::SqliteConnection;

/// A SQLite file with a `users` table, a Redis connection for the code under test and a
/// separate one to read what Redis holds.
struct Setup {
    conn: Conn<SqliteConnection>,
    redis: MultiplexedConnection,
    reader: MultiplexedConnection,
    _db: oncommit_tests::db::SqliteFile,
}

async fn setup() -> Option<Setup> {
    let url = service_url("REDIS_URL")?;
    let db = oncommit_tests::db::sqlite().await?;
    let mut plain = db.connect().await;
    sqlx::raw_sql("CREATE TABLE users (id INTEGER PRIMARY KEY)")
        .execute(&mut plain)
        .await
        .expect("CREATE TABLE");
    let client = redis::Client::open(url).expect("REDIS_URL");
    let redis = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let reader = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    Some(Setup {
        conn: Conn::new(plain),
        redis,
        reader,
        _db: db,
    })
}

async fn list(reader: &mut MultiplexedConnection, key: &str) -> Vec<String> {
    reader.lrange(key, 0, -1).await.expect("LRANGE")
}

async fn insert(conn: &mut SqliteConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO users (id) VALUES (?)")
        .bind(id)
        .execute(conn)
        .await
        .map(drop)
}

/// `redis` is a `&mut MultiplexedConnection`: the hook clones the connection (not the
/// reference) and calls `rpush`, a `&mut self` method, on its clone. Before COMMIT a
/// separate connection sees the list as it was.
#[atomic]
async fn sign_up(
    conn: &mut Conn<SqliteConnection>,
    redis: &mut MultiplexedConnection,
    reader: &mut MultiplexedConnection,
    key: &str,
    ids: Vec<i64>,
    reject: bool,
) -> Result<(), AppError> {
    let before = list(reader, key).await;
    for id in ids {
        insert(conn, id).await?;
        enqueue!(redis.rpush::<_, _, ()>(key.to_owned(), id).await?);
    }
    assert_eq!(list(reader, key).await, before, "nothing before COMMIT");
    if reject {
        return Err(AppError::Rejected);
    }
    Ok(())
}

/// The same through a shared reference, the form the README shows: `queue: &Queue`.
#[atomic]
async fn sign_up_shared(
    conn: &mut Conn<SqliteConnection>,
    redis: &MultiplexedConnection,
    key: &str,
    id: i64,
) -> Result<(), AppError> {
    insert(conn, id).await?;
    enqueue!(redis.rpush::<_, _, ()>(key.to_owned(), id).await?);
    Ok(())
}

#[tokio::test]
async fn rpush_on_a_mut_connection_runs_after_commit() {
    let Some(Setup {
        mut conn,
        mut redis,
        mut reader,
        _db,
    }) = setup().await
    else {
        return;
    };
    let key = unique_name("oncommit:test:rpush");
    sign_up(
        &mut conn,
        &mut redis,
        &mut reader,
        &key,
        vec![1, 2, 3],
        false,
    )
    .await
    .unwrap();
    assert_eq!(list(&mut reader, &key).await, ["1", "2", "3"]);

    let rolled_back = sign_up(&mut conn, &mut redis, &mut reader, &key, vec![4, 5], true).await;
    assert!(matches!(rolled_back, Err(AppError::Rejected)));
    sign_up_shared(&mut conn, &redis, &key, 6).await.unwrap();
    assert_eq!(
        list(&mut reader, &key).await,
        ["1", "2", "3", "6"],
        "the rolled-back sign-up pushed nothing"
    );
    let rows: Vec<i64> = sqlx::query_scalar("SELECT id FROM users ORDER BY id")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert_eq!(rows, [1, 2, 3, 6]);
    let _: () = reader.del(&key).await.unwrap();
}

/// A mailer whose `send` takes `&mut self` (it counts what this value sent).
#[derive(Clone)]
struct Mailer {
    redis: MultiplexedConnection,
    list: String,
    sent: u32,
}

impl Mailer {
    async fn send(&mut self, user: i64) -> redis::RedisResult<()> {
        self.sent += 1;
        let mail = format!("user {user}, mail {} of this mailer", self.sent);
        self.redis.rpush(&self.list, mail).await
    }
}

/// `m` is a `&mut Mailer` from `iter_mut()`: each hook gets a clone of the `Mailer` as it
/// is at the `enqueue!` (`sent` raised by 10 before it, by 100 after).
#[atomic]
async fn notify_all(
    conn: &mut Conn<SqliteConnection>,
    mailers: &mut [Mailer],
    users: Vec<i64>,
) -> Result<(), AppError> {
    for user in users {
        insert(conn, user).await?;
        for m in mailers.iter_mut() {
            m.sent += 10;
            enqueue!(m.send(user).await?);
            m.sent += 100;
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_mut_mailer_from_iter_mut_is_cloned_into_each_hook() {
    let Some(Setup {
        mut conn,
        redis,
        mut reader,
        _db,
    }) = setup().await
    else {
        return;
    };
    let lists = [
        unique_name("oncommit:test:mailer"),
        unique_name("oncommit:test:mailer"),
    ];
    let mut mailers: Vec<Mailer> = lists
        .iter()
        .map(|list| Mailer {
            redis: redis.clone(),
            list: list.clone(),
            sent: 0,
        })
        .collect();
    notify_all(&mut conn, &mut mailers, vec![7, 8])
        .await
        .unwrap();
    assert_eq!(
        list(&mut reader, &lists[0]).await,
        [
            "user 7, mail 11 of this mailer",
            "user 8, mail 121 of this mailer"
        ]
    );
    assert_eq!(
        list(&mut reader, &lists[1]).await,
        [
            "user 7, mail 11 of this mailer",
            "user 8, mail 121 of this mailer"
        ]
    );
    assert_eq!(
        mailers.iter().map(|m| m.sent).collect::<Vec<_>>(),
        [220, 220],
        "the hooks counted on their own clones"
    );
    let _: () = reader.del(&lists[..]).await.unwrap();
}
