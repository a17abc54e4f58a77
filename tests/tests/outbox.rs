//! The transactional outbox on real databases: durable jobs are written by the transaction
//! they belong to, read back from a separate connection. A committed transaction leaves one
//! row per job (its message id, topic and JSON payload), a rolled-back one none, a
//! rolled-back savepoint drops its own; if the outbox cannot be written, nothing of the
//! transaction is committed. The same through `enqueue!(outbox => JOB)` in `#[atomic]` fns:
//! the payload holds the values as they were at the `enqueue!`, and the id it returns is the
//! row's.
//!
//! SQLite (a temporary file) always runs; Postgres needs `DATABASE_URL`, MariaDB `MYSQL_URL`.

use oncommit::outbox::{Dialect, Job, migrate};
use oncommit::{Conn, ErrorKind, atomic, enqueue};
use oncommit_tests::race::AppError;
use oncommit_tests::{service_url, unique_name};
use serde::Serialize;
use sqlx::{AssertSqlSafe, Connection};

#[derive(Serialize)]
struct Welcome {
    user_id: i64,
}

impl Job for Welcome {
    const TOPIC: &'static str = "welcome";
}

macro_rules! outbox_suite {
    ($suite:ident, $conn:ty, $dialect:expr, $url:expr, $id_text:literal, $payload_text:literal) => {
        mod $suite {
            use super::*;

            type C = $conn;

            async fn exec(conn: &mut C, sql: String) -> Result<(), sqlx::Error> {
                sqlx::raw_sql(AssertSqlSafe(sql)).execute(conn).await?;
                Ok(())
            }

            /// The outbox rows of jobs tagged `users`, as (id, topic, user id).
            async fn rows(reader: &mut C, users: &str) -> Vec<(String, String, i64)> {
                let sql = format!(
                    "SELECT {id}, topic, {payload} FROM oncommit_outbox \
                     WHERE {payload} LIKE '%{users}%' ORDER BY {id}",
                    id = $id_text,
                    payload = $payload_text,
                );
                let rows: Vec<(String, String, String)> = sqlx::query_as(AssertSqlSafe(sql))
                    .fetch_all(reader)
                    .await
                    .expect("read the outbox");
                rows.into_iter()
                    .map(|(id, topic, payload)| {
                        let value: serde_json::Value = serde_json::from_str(&payload).unwrap();
                        (id, topic, value["user_id"].as_i64().unwrap())
                    })
                    .collect()
            }

            #[derive(Serialize)]
            struct Tagged<'a> {
                users: &'a str,
                user_id: i64,
            }

            impl Job for Tagged<'_> {
                const TOPIC: &'static str = "welcome";
            }

            /// A reader with the outbox table, a fresh `users` table, and a `Conn` to write.
            async fn setup(url: &str) -> (C, String, Conn<C>) {
                let mut reader = C::connect(url).await.unwrap();
                migrate(&mut reader, $dialect)
                    .await
                    .expect("create the outbox table");
                let users = unique_name("users");
                exec(
                    &mut reader,
                    format!("CREATE TABLE {users} (id BIGINT PRIMARY KEY)"),
                )
                .await
                .unwrap();
                (reader, users, Conn::new(C::connect(url).await.unwrap()))
            }

            #[tokio::test]
            async fn jobs_commit_and_roll_back_with_their_transaction() {
                let Some(url) = $url else { return };
                let (mut reader, users, mut conn) = setup(&url).await;

                let kept = conn
                    .atomic_async(async |conn| {
                        exec(conn, format!("INSERT INTO {users} (id) VALUES (1)")).await?;
                        let first = conn.enqueue_job(&Tagged {
                            users: &users,
                            user_id: 1,
                        })?;
                        let released = conn
                            .atomic_async(async |conn| {
                                Ok::<_, AppError>(conn.enqueue_job(&Tagged {
                                    users: &users,
                                    user_id: 2,
                                })?)
                            })
                            .await?;
                        let dropped = conn
                            .atomic_async(async |conn| {
                                conn.enqueue_job(&Tagged {
                                    users: &users,
                                    user_id: 3,
                                })?;
                                Err::<(), _>(AppError::Rejected)
                            })
                            .await;
                        assert!(dropped.is_err());
                        assert_eq!(conn.pending_jobs(), 2);
                        Ok::<_, AppError>([first, released])
                    })
                    .await
                    .unwrap();

                let rolled_back = conn
                    .atomic_async(async |conn| {
                        exec(conn, format!("INSERT INTO {users} (id) VALUES (4)")).await?;
                        conn.enqueue_job(&Tagged {
                            users: &users,
                            user_id: 4,
                        })?;
                        Err::<(), _>(AppError::Rejected)
                    })
                    .await;
                assert!(rolled_back.is_err());

                let found = rows(&mut reader, &users).await;
                let mut expected: Vec<(String, String, i64)> = kept
                    .iter()
                    .zip([1, 2])
                    .map(|(id, user)| (id.to_string(), "welcome".to_owned(), user))
                    .collect();
                expected.sort();
                assert_eq!(found, expected);
                assert_eq!(kept[0].get_version_num(), 7);
                exec(
                    &mut reader,
                    format!(
                        "DELETE FROM oncommit_outbox WHERE {} LIKE '%{users}%'",
                        $payload_text
                    ),
                )
                .await
                .unwrap();
                exec(&mut reader, format!("DROP TABLE {users}"))
                    .await
                    .unwrap();
            }

            /// A job of `enqueue!(outbox => ..)`, its name borrowed (from a loop variable).
            #[derive(Serialize)]
            struct SignedUp<'a> {
                users: &'a str,
                user_id: i64,
                name: &'a str,
            }

            impl Job for SignedUp<'_> {
                const TOPIC: &'static str = "signed-up";
            }

            /// The outbox rows of jobs tagged `users`, as (id, topic, user id, name).
            async fn signed_up_rows(reader: &mut C, users: &str) -> Vec<(String, String, i64, String)> {
                let sql = format!(
                    "SELECT {id}, topic, {payload} FROM oncommit_outbox \
                     WHERE {payload} LIKE '%{users}%' ORDER BY {id}",
                    id = $id_text,
                    payload = $payload_text,
                );
                let rows: Vec<(String, String, String)> = sqlx::query_as(AssertSqlSafe(sql))
                    .fetch_all(reader)
                    .await
                    .expect("read the outbox");
                rows.into_iter()
                    .map(|(id, topic, payload)| {
                        let value: serde_json::Value = serde_json::from_str(&payload).unwrap();
                        let name = value["name"].as_str().unwrap().to_owned();
                        (id, topic, value["user_id"].as_i64().unwrap(), name)
                    })
                    .collect()
            }

            /// A nested block that inserts user 99, enqueues its job, and rolls back.
            #[atomic]
            async fn rejected(conn: &mut Conn<C>, users: &str) -> Result<(), AppError> {
                exec(conn, format!("INSERT INTO {users} (id) VALUES (99)")).await?;
                enqueue!(outbox => SignedUp { users, user_id: 99, name: "rolled back" });
                Err(AppError::Rejected)
            }

            /// A nested block that commits (its savepoint is released): its job is kept.
            #[atomic]
            async fn released(conn: &mut Conn<C>, users: &str) -> Result<String, AppError> {
                exec(conn, format!("INSERT INTO {users} (id) VALUES (50)")).await?;
                let id = enqueue!(outbox => SignedUp { users, user_id: 50, name: "released" });
                Ok(id.to_string())
            }

            /// Inserts a user per name and enqueues its job, in a loop (the job borrows the
            /// loop's `name`, changed right after the `enqueue!`), in a nested block, in a
            /// released and a rolled-back nested `#[atomic]` fn, and with the explicit
            /// connection. Returns what each kept job should hold: (id, user id, name).
            #[atomic]
            async fn sign_up(
                conn: &mut Conn<C>,
                users: &str,
                names: &[&str],
            ) -> Result<Vec<(String, i64, String)>, AppError> {
                let mut kept = Vec::new();
                let mut user_id = 0;
                for base in names {
                    user_id += 1;
                    let mut name = format!("{base} {user_id}");
                    exec(conn, format!("INSERT INTO {users} (id) VALUES ({user_id})")).await?;
                    let id = enqueue!(outbox => SignedUp { users, user_id, name: &name });
                    kept.push((id.to_string(), user_id, name.clone()));
                    // Changed after the `enqueue!`: the job already holds the values above.
                    name.push_str(" changed after the enqueue");
                    assert!(name.ends_with("changed after the enqueue"));
                }
                {
                    if user_id > 0 {
                        let name = "nested";
                        let id = enqueue!(outbox => SignedUp { users, user_id: 40, name });
                        kept.push((id.to_string(), 40, name.to_owned()));
                    }
                }
                kept.push((released(conn, users).await?, 50, "released".to_owned()));
                assert!(matches!(rejected(conn, users).await, Err(AppError::Rejected)));
                let explicit = enqueue!(conn => outbox => SignedUp {
                    users,
                    user_id: 60,
                    name: "explicit",
                })?;
                kept.push((explicit.to_string(), 60, "explicit".to_owned()));
                assert_eq!(conn.pending_jobs(), kept.len());
                Ok(kept)
            }

            /// `enqueue!(outbox => JOB)` in `#[atomic]` fns: exactly the committed jobs are in
            /// the outbox, with the values they had at the `enqueue!` and the ids it returned.
            #[tokio::test]
            async fn enqueue_outbox_writes_the_committed_jobs() {
                let Some(url) = $url else { return };
                let (mut reader, users, mut conn) = setup(&url).await;

                let kept = sign_up(&mut conn, &users, &["ann", "bob", "cy"])
                    .await
                    .expect("the transaction commits");
                assert_eq!(kept.len(), 6);
                // Rolled back as the outermost transaction: no job.
                assert!(matches!(rejected(&mut conn, &users).await, Err(AppError::Rejected)));

                let found = signed_up_rows(&mut reader, &users).await;
                let mut expected: Vec<(String, String, i64, String)> = kept
                    .into_iter()
                    .map(|(id, user, name)| (id, "signed-up".to_owned(), user, name))
                    .collect();
                expected.sort();
                assert_eq!(found, expected);
                assert_eq!(
                    found.iter().map(|row| &*row.3).take(3).collect::<Vec<_>>(),
                    ["ann 1", "bob 2", "cy 3"],
                    "the names as they were at the enqueue!"
                );
                let ids: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
                    "SELECT id FROM {users} ORDER BY id"
                )))
                .fetch_all(&mut reader)
                .await
                .unwrap();
                assert_eq!(ids, [1, 2, 3, 50]);
                exec(
                    &mut reader,
                    format!(
                        "DELETE FROM oncommit_outbox WHERE {} LIKE '%{users}%'",
                        $payload_text
                    ),
                )
                .await
                .unwrap();
                exec(&mut reader, format!("DROP TABLE {users}"))
                    .await
                    .unwrap();
            }

            /// Outside a transaction a durable job is refused: it is written by the
            /// transaction it belongs to.
            #[tokio::test]
            async fn a_job_outside_a_transaction_is_refused() {
                let Some(url) = $url else { return };
                let mut conn = Conn::new(C::connect(&url).await.unwrap());
                let error = conn.enqueue_job(&Welcome { user_id: 1 }).unwrap_err();
                assert_eq!(error.kind(), ErrorKind::Outbox, "{error}");
            }
        }
    };
}

fn sqlite_url() -> Option<String> {
    // One file per test process; the suite's tests share it.
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"));
    Some(format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("outbox.db").display()
    ))
}

outbox_suite!(
    sqlite,
    sqlx::SqliteConnection,
    Dialect::Sqlite,
    sqlite_url(),
    "id",
    "payload"
);
outbox_suite!(
    postgres,
    sqlx::PgConnection,
    Dialect::Postgres,
    service_url("DATABASE_URL"),
    "CAST(id AS TEXT)",
    "CAST(payload AS TEXT)"
);
outbox_suite!(
    mariadb,
    sqlx::MySqlConnection,
    Dialect::MySql,
    service_url("MYSQL_URL"),
    "id",
    "payload"
);

/// A transaction that inserts user 1 and enqueues a job fails with `ErrorKind::Outbox` (the
/// outbox cannot be written on `conn`).
async fn insert_with_a_job_fails_on_the_outbox<C>(conn: &mut Conn<C>)
where
    C: oncommit::AsyncBackend,
    for<'c> &'c mut C: sqlx::Executor<'c>,
{
    let result = conn
        .atomic_async(async |conn| {
            sqlx::raw_sql("INSERT INTO users (id) VALUES (1)")
                .execute(&mut **conn)
                .await?;
            conn.enqueue_job(&Welcome { user_id: 1 })?;
            Ok::<_, AppError>(())
        })
        .await;
    let Err(AppError::Tx(error)) = result else {
        panic!("expected oncommit's error, got {result:?}")
    };
    assert_eq!(error.kind(), ErrorKind::Outbox, "{error}");
}

/// When the outbox cannot be written (here: no outbox table in this SQLite database), the
/// transaction fails and none of its data is committed.
#[tokio::test]
async fn a_failed_outbox_write_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("no_outbox.db").display()
    );
    let mut reader = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("CREATE TABLE users (id INTEGER PRIMARY KEY)")
        .execute(&mut reader)
        .await
        .unwrap();
    let mut conn = Conn::new(sqlx::SqliteConnection::connect(&url).await.unwrap());
    insert_with_a_job_fails_on_the_outbox(&mut conn).await;
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut reader)
        .await
        .unwrap();
    assert_eq!(users, 0);
    assert_eq!(conn.pending_jobs(), 0);
}

/// Postgres writes the jobs in the statement that reads the transaction id before COMMIT;
/// when that fails (here: no outbox table on the connection's search path), the transaction
/// fails with `ErrorKind::Outbox` and none of its data is committed.
#[tokio::test]
async fn postgres_a_failed_outbox_write_commits_nothing() {
    let Some(url) = service_url("DATABASE_URL") else {
        return;
    };
    let schema = unique_name("oncommit_no_outbox");
    let mut reader = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE SCHEMA {schema}; CREATE TABLE {schema}.users (id BIGINT PRIMARY KEY)"
    )))
    .execute(&mut reader)
    .await
    .unwrap();
    let mut raw = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!("SET search_path TO {schema}")))
        .execute(&mut raw)
        .await
        .unwrap();
    let mut conn = Conn::new(raw);
    insert_with_a_job_fails_on_the_outbox(&mut conn).await;
    let users: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM {schema}.users"
    )))
    .fetch_one(&mut reader)
    .await
    .unwrap();
    assert_eq!(users, 0);
    assert!(!conn.is_broken());
    conn.atomic_async(async |conn| {
        sqlx::raw_sql("INSERT INTO users (id) VALUES (2)")
            .execute(&mut **conn)
            .await?;
        Ok::<_, AppError>(())
    })
    .await
    .expect("the connection is usable afterwards");
    sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut reader)
        .await
        .unwrap();
}

/// A diesel job tagged with its test's name.
#[derive(Serialize)]
struct DieselJob {
    test: String,
    n: i64,
}

impl Job for DieselJob {
    const TOPIC: &'static str = "diesel_welcome";
}

/// On a diesel connection (sync): a committed transaction writes its jobs before its COMMIT
/// (a released savepoint's included, a rolled-back savepoint's not); a rolled-back one
/// writes none. Returns the ids of the jobs that must be in the outbox.
fn diesel_jobs<C>(conn: &mut Conn<C>, test: &str) -> Vec<uuid::Uuid>
where
    C: oncommit::SyncBackend,
{
    let job = |n| DieselJob {
        test: test.to_owned(),
        n,
    };
    let kept = conn
        .atomic(|conn| {
            let first = conn.enqueue_job(&job(1))?;
            let second = conn.atomic(|conn| Ok::<_, AppError>(conn.enqueue_job(&job(2))?))?;
            let rolled_back = conn.atomic(|conn| {
                conn.enqueue_job(&job(3))?;
                Err::<(), _>(AppError::Rejected)
            });
            assert!(rolled_back.is_err());
            Ok::<_, AppError>(vec![first, second])
        })
        .unwrap();
    let failed = conn.atomic(|conn| {
        conn.enqueue_job(&job(4))?;
        Err::<(), _>(AppError::Rejected)
    });
    assert!(failed.is_err());
    kept
}

/// The ids of the outbox rows of `test`'s jobs, read with sqlx on a connection of its own.
async fn diesel_rows<C: Connection>(
    reader: &mut C,
    id_text: &str,
    payload_text: &str,
    test: &str,
) -> Vec<uuid::Uuid>
where
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
    for<'q> <C::Database as sqlx::Database>::Arguments: sqlx::IntoArguments<C::Database>,
    String: for<'r> sqlx::Decode<'r, C::Database> + sqlx::Type<C::Database>,
    (String,): for<'r> sqlx::FromRow<'r, <C::Database as sqlx::Database>::Row>,
{
    let sql = format!(
        "SELECT {id_text} FROM oncommit_outbox WHERE topic = 'diesel_welcome' \
         AND {payload_text} LIKE '%\"{test}\"%' ORDER BY {id_text}"
    );
    let rows: Vec<(String,)> = sqlx::query_as(AssertSqlSafe(sql))
        .fetch_all(reader)
        .await
        .expect("read the outbox");
    rows.iter()
        .map(|(id,)| uuid::Uuid::parse_str(id).unwrap())
        .collect()
}

#[tokio::test]
async fn diesel_sqlite_writes_the_outbox() {
    use diesel::Connection as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("diesel_outbox.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut reader = sqlx::SqliteConnection::connect(&url).await.unwrap();
    migrate(&mut reader, Dialect::Sqlite).await.unwrap();
    let mut conn = Conn::new(diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap());
    let mut kept = diesel_jobs(&mut conn, "sqlite");
    kept.sort();
    assert_eq!(
        diesel_rows(&mut reader, "id", "payload", "sqlite").await,
        kept
    );
}

#[tokio::test]
async fn diesel_postgres_writes_the_outbox() {
    use diesel::Connection as _;
    let Some(url) = service_url("DATABASE_URL") else {
        return;
    };
    let mut reader = sqlx::PgConnection::connect(&url).await.unwrap();
    migrate(&mut reader, Dialect::Postgres).await.unwrap();
    let test = unique_name("diesel_pg");
    let mut conn = Conn::new(diesel::PgConnection::establish(&url).unwrap());
    let mut kept = tokio::task::spawn_blocking({
        let test = test.clone();
        move || diesel_jobs(&mut conn, &test)
    })
    .await
    .unwrap();
    kept.sort();
    assert_eq!(
        diesel_rows(
            &mut reader,
            "CAST(id AS TEXT)",
            "CAST(payload AS TEXT)",
            &test
        )
        .await,
        kept
    );
}

/// A table an earlier version made (without the ordering key) is upgraded by `migrate`, its
/// rows kept; `migrate` again changes nothing.
#[tokio::test]
async fn migrate_adds_the_ordering_key_to_an_earlier_table() {
    use oncommit::outbox::{Dialect, migrate, schema};
    let dir = tempfile::tempdir().unwrap();
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite:{}?mode=rwc",
        dir.path().join("old.db").display()
    ))
    .await
    .unwrap();
    sqlx::raw_sql(schema(Dialect::Sqlite))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO oncommit_outbox (id, topic, payload) VALUES ('a', 't', '{}')")
        .execute(&pool)
        .await
        .unwrap();
    migrate(&pool, Dialect::Sqlite).await.unwrap();
    migrate(&pool, Dialect::Sqlite).await.unwrap();
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT id, ordering_key FROM oncommit_outbox")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows, [("a".to_owned(), None)]);
}
