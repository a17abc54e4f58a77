//! Rollback and before-commit hooks on real databases (SQLite always; Postgres with
//! `DATABASE_URL`, MariaDB with `MYSQL_URL`). `Conn::on_rollback`: a savepoint's rollback runs
//! its own rollback hooks only, a COMMIT runs none, an outermost rollback runs its own and its
//! released savepoints', and a COMMIT the server refuses (a deferred foreign key) runs them
//! too. `Conn::before_commit`: its writes commit with the transaction, a failing one rolls the
//! transaction back, a rolled-back savepoint's never runs. What the table holds is read on a
//! connection of its own.

use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use oncommit::{BoxError, Conn, ErrorKind};
use oncommit_tests::db::{Table, TestDb};

#[derive(Debug)]
enum AppError {
    Tx(oncommit::Error),
    Sqlx(#[allow(dead_code)] sqlx::Error),
    Rejected,
}

impl From<oncommit::Error> for AppError {
    fn from(error: oncommit::Error) -> Self {
        AppError::Tx(error)
    }
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        AppError::Sqlx(error)
    }
}

type Ran = Arc<Mutex<Vec<&'static str>>>;

fn record(ran: &Ran, what: &'static str) -> impl FnOnce() + Send + 'static {
    let ran = ran.clone();
    move || ran.lock().unwrap().push(what)
}

async fn rollback_hooks_run_for_the_level_that_rolled_back<D: TestDb>(db: D) {
    let mut conn = Conn::new(db.connect().await);
    let table = Table::create::<D>(&mut conn).await;
    let ran = Ran::default();
    conn.atomic_async(async |conn| {
        table.insert::<D>(conn, 1).await?;
        conn.on_rollback(record(&ran, "outer"))?;
        conn.atomic_async(async |conn| {
            conn.on_rollback(record(&ran, "released"))?;
            Ok::<_, AppError>(())
        })
        .await?;
        let inner = conn
            .atomic_async(async |conn| {
                table.insert::<D>(conn, 2).await?;
                conn.on_rollback(record(&ran, "inner"))?;
                Err::<(), _>(AppError::Rejected)
            })
            .await;
        assert!(matches!(inner, Err(AppError::Rejected)));
        assert_eq!(
            *ran.lock().unwrap(),
            ["inner"],
            "{}: the savepoint's own",
            D::NAME
        );
        Ok::<_, AppError>(())
    })
    .await
    .unwrap();
    assert_eq!(
        *ran.lock().unwrap(),
        ["inner"],
        "{}: none after COMMIT",
        D::NAME
    );

    let outer = conn
        .atomic_async(async |conn| {
            table.insert::<D>(conn, 3).await?;
            conn.on_rollback(record(&ran, "a"))?;
            conn.atomic_async(async |conn| {
                conn.on_rollback(record(&ran, "b"))?;
                Ok::<_, AppError>(())
            })
            .await?;
            Err::<(), _>(AppError::Rejected)
        })
        .await;
    assert!(matches!(outer, Err(AppError::Rejected)));
    assert_eq!(*ran.lock().unwrap(), ["inner", "a", "b"], "{}", D::NAME);

    if D::DEFERRED_CONSTRAINTS {
        // The server refuses the COMMIT: nothing committed, the rollback hooks run.
        let refused = conn
            .atomic_async(async |conn| {
                table.insert_orphan::<D>(conn, 4).await?;
                conn.on_rollback(record(&ran, "refused"))?;
                Ok::<_, AppError>(())
            })
            .await;
        assert!(matches!(refused, Err(AppError::Tx(_))), "{refused:?}");
        assert_eq!(*ran.lock().unwrap(), ["inner", "a", "b", "refused"]);
    }
    let mut reader = db.connect().await;
    assert_eq!(table.ids::<D>(&mut reader).await, [1], "{}", D::NAME);
}

/// A before-commit hook that inserts `id` into `table`.
fn insert_before_commit<D: TestDb>(
    table: &Table,
    id: i64,
) -> impl for<'a> FnOnce(&'a mut D::Conn) -> BoxFuture<'a, Result<(), BoxError>> + Send + 'static {
    let sql = format!("INSERT INTO {} (id) VALUES ({id})", table.name());
    move |conn: &mut D::Conn| {
        Box::pin(async move {
            D::exec(conn, sql).await?;
            Ok(())
        })
    }
}

async fn before_commit_hooks_write_inside_the_transaction<D: TestDb>(db: D) {
    let mut conn = Conn::new(db.connect().await);
    let table = Table::create::<D>(&mut conn).await;
    let mut reader = db.connect().await;
    conn.atomic_async(async |conn| {
        table.insert::<D>(conn, 1).await?;
        conn.before_commit(insert_before_commit::<D>(&table, 10))?;
        let dropped = conn
            .atomic_async(async |conn| {
                conn.before_commit(insert_before_commit::<D>(&table, 20))?;
                Err::<(), _>(AppError::Rejected)
            })
            .await;
        assert!(dropped.is_err());
        Ok::<_, AppError>(())
    })
    .await
    .unwrap();
    assert_eq!(table.ids::<D>(&mut reader).await, [1, 10], "{}", D::NAME);

    // A failing before-commit hook (a duplicate key) rolls everything back.
    let failed = conn
        .atomic_async(async |conn| {
            table.insert::<D>(conn, 2).await?;
            conn.before_commit(insert_before_commit::<D>(&table, 10))?;
            Ok::<_, AppError>(())
        })
        .await;
    let Err(AppError::Tx(error)) = failed else {
        panic!("expected a before-commit failure, got {failed:?}")
    };
    assert_eq!(error.kind(), ErrorKind::BeforeCommit, "{error}");
    assert_eq!(table.ids::<D>(&mut reader).await, [1, 10], "{}", D::NAME);

    let outside = conn.before_commit(insert_before_commit::<D>(&table, 30));
    assert_eq!(outside.unwrap_err().kind(), ErrorKind::BeforeCommit);
}

oncommit_tests::on_each_db!(
    oncommit_tests::db;
    rollback_hooks_run_for_the_level_that_rolled_back,
    before_commit_hooks_write_inside_the_transaction,
);
