//! Faults the Postgres server itself causes, checked against what the database holds (read
//! from a separate connection) and which hooks ran: the backend terminated
//! (`pg_terminate_backend`) before COMMIT and while the hooks run, and a lock timeout or a
//! statement timeout whose error the body ignores.
//!
//! Needs `DATABASE_URL` (skips with a printed reason when unset; fails under `CI=true`).

use std::sync::{Arc, Mutex};

use oncommit::{Conn, Outcome, Step};
use oncommit_tests::race::AppError;
use oncommit_tests::{service_url, unique_name};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// A database, a table in it, a reader on its own connection, and the hooks that ran.
struct Fixture {
    url: String,
    reader: PgConnection,
    table: String,
    ran: Arc<Mutex<Vec<i64>>>,
}

impl Fixture {
    async fn new() -> Option<Fixture> {
        let url = service_url("DATABASE_URL")?;
        let mut reader = PgConnection::connect(&url)
            .await
            .expect("connect the reader");
        let table = unique_name("oncommit_server_faults");
        exec(
            &mut reader,
            format!("CREATE TABLE {table} (id BIGINT PRIMARY KEY)"),
        )
        .await
        .expect("create the table");
        Some(Fixture {
            url,
            reader,
            table,
            ran: Arc::default(),
        })
    }

    async fn conn(&self) -> (Conn<PgConnection>, i32) {
        let mut conn = PgConnection::connect(&self.url).await.expect("connect");
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        (Conn::new(conn), pid)
    }

    fn hook(&self, id: i64) -> impl FnOnce() + Send + 'static {
        let ran = self.ran.clone();
        move || ran.lock().unwrap().push(id)
    }

    fn ran(&self) -> Vec<i64> {
        self.ran.lock().unwrap().clone()
    }

    async fn committed(&mut self) -> Vec<i64> {
        sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT id FROM {} ORDER BY id",
            self.table
        )))
        .fetch_all(&mut self.reader)
        .await
        .unwrap()
    }

    async fn terminate(&mut self, pid: i32) {
        let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(&mut self.reader)
            .await
            .unwrap();
        assert!(terminated, "backend {pid} terminated");
    }

    async fn finish(mut self) {
        exec(&mut self.reader, format!("DROP TABLE {}", self.table))
            .await
            .expect("drop the table");
    }
}

async fn exec(conn: &mut PgConnection, sql: String) -> Result<(), sqlx::Error> {
    sqlx::query(AssertSqlSafe(sql)).execute(conn).await?;
    Ok(())
}

async fn insert(conn: &mut PgConnection, table: &str, id: i64) -> Result<(), sqlx::Error> {
    exec(conn, format!("INSERT INTO {table} (id) VALUES ({id})")).await
}

/// The backend is terminated while the body runs: the COMMIT cannot happen, the caller is
/// told nothing was committed, no hook runs, the row is not there; the `Conn` says it is
/// broken and refuses the next BEGIN at once, with an error that says why.
#[tokio::test]
async fn a_backend_terminated_before_commit_commits_nothing_and_the_conn_is_broken() {
    let Some(mut f) = Fixture::new().await else {
        return;
    };
    let (mut conn, pid) = f.conn().await;
    let table = f.table.clone();
    let hook = f.hook(1);
    let result = conn
        .atomic_async(async |conn| {
            insert(conn, &table, 1).await?;
            conn.on_commit(hook)?;
            f.terminate(pid).await;
            Ok::<_, AppError>(())
        })
        .await;
    let error = match result {
        Err(AppError::Tx(error)) => error,
        other => panic!("expected oncommit's error, got {other:?}"),
    };
    assert_eq!(error.outcome(), Outcome::NotCommitted, "{error}");
    assert_eq!(f.ran(), [] as [i64; 0]);
    assert_eq!(f.committed().await, [] as [i64; 0]);
    assert!(conn.is_broken());
    let again = conn
        .atomic_async(async |_| Ok::<_, AppError>(()))
        .await
        .unwrap_err();
    let AppError::Tx(again) = again else {
        panic!("expected oncommit's error")
    };
    assert_eq!(again.step(), Some(Step::Begin));
    assert!(again.to_string().contains("BEGIN"), "{again}");
    let cause = std::error::Error::source(&again).map(ToString::to_string);
    assert!(
        cause.as_deref().is_some_and(|c| c.contains("lost earlier")),
        "{cause:?}"
    );
    f.finish().await;
}

/// The backend is terminated by the first hook, after COMMIT: the data is committed and
/// every hook still runs (hooks do not need the connection); the next BEGIN on that `Conn`
/// fails, and from then on it says it is broken.
#[tokio::test]
async fn a_backend_terminated_while_hooks_run_keeps_the_commit_and_runs_every_hook() {
    let Some(mut f) = Fixture::new().await else {
        return;
    };
    let (mut conn, pid) = f.conn().await;
    let (table, url) = (f.table.clone(), f.url.clone());
    let (hook_2, hook_3) = (f.hook(2), f.hook(3));
    let ran = f.ran.clone();
    conn.atomic_async(async |conn| {
        for id in [1, 2, 3] {
            insert(conn, &table, id).await?;
        }
        conn.on_commit_async(move || async move {
            let mut killer = PgConnection::connect(&url).await?;
            sqlx::query("SELECT pg_terminate_backend($1)")
                .bind(pid)
                .execute(&mut killer)
                .await?;
            ran.lock().unwrap().push(1);
            Ok::<_, sqlx::Error>(())
        })
        .await?;
        conn.on_commit(hook_2)?;
        conn.on_commit(hook_3)?;
        Ok::<_, AppError>(())
    })
    .await
    .unwrap();
    assert_eq!(f.ran(), [1, 2, 3]);
    assert_eq!(f.committed().await, [1, 2, 3]);
    let next = conn.atomic_async(async |_| Ok::<_, AppError>(())).await;
    assert!(next.is_err(), "BEGIN on a terminated backend fails");
    assert!(conn.is_broken());
    f.finish().await;
}

/// A statement that waits for a lock beyond `lock_timeout` fails, and Postgres aborts the
/// transaction; a body that ignores it (and the errors after it) and returns `Ok` gets `Err`
/// with `server_rolled_back()`, nothing is committed, no hook runs. The same for
/// `statement_timeout`. The `Conn` is not broken: the next transaction commits.
#[tokio::test]
async fn a_lock_or_statement_timeout_the_body_ignores_commits_nothing() {
    let Some(mut f) = Fixture::new().await else {
        return;
    };
    let (mut conn, _) = f.conn().await;
    insert(&mut f.reader, &f.table, 100).await.unwrap();
    let mut holder = PgConnection::connect(&f.url).await.unwrap();
    let mut holding = holder.begin().await.unwrap();
    exec(
        &mut holding,
        format!("SELECT id FROM {} WHERE id = 100 FOR UPDATE", f.table),
    )
    .await
    .unwrap();
    let table = f.table.clone();
    for (setting, waits) in [
        (
            "lock_timeout",
            format!("SELECT id FROM {table} WHERE id = 100 FOR UPDATE"),
        ),
        ("statement_timeout", "SELECT pg_sleep(5)".to_owned()),
    ] {
        let hook = f.hook(1);
        let result = conn
            .atomic_async(async |conn| {
                exec(conn, format!("SET LOCAL {setting} = '50ms'")).await?;
                insert(conn, &table, 1).await?;
                conn.on_commit(hook)?;
                let timed_out = exec(conn, waits).await;
                assert!(timed_out.is_err(), "{setting} fired");
                let _ = insert(conn, &table, 2).await; // ignored, as the timeout is
                Ok::<_, AppError>(())
            })
            .await;
        let error = match result {
            Err(AppError::Tx(error)) => error,
            other => panic!("expected oncommit's error, got {other:?}"),
        };
        assert!(error.server_rolled_back(), "{setting}: {error}");
        assert_eq!(f.ran(), [] as [i64; 0], "{setting}");
        assert_eq!(f.committed().await, [100], "{setting}");
        assert!(!conn.is_broken());
    }
    holding.rollback().await.unwrap();
    let hook = f.hook(3);
    conn.atomic_async(async |conn| {
        insert(conn, &table, 3).await?;
        conn.on_commit(hook)?;
        Ok::<_, AppError>(())
    })
    .await
    .unwrap();
    assert_eq!(f.ran(), [3]);
    f.finish().await;
}
