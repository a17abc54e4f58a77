//! The race on SQLite (a temporary database file, WAL): always runs, with an in-process queue
//! (a tokio channel: Redis adds no database behaviour here); the same scenarios also run with a
//! Redis queue when `REDIS_URL` is set.

use oncommit_tests::race::{local_queue, redis_queue, scenarios};
use sqlx::SqliteConnection;

fn database() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("race.db").display());
    (dir, url)
}

macro_rules! race_test {
    ($($name:ident),* $(,)?) => {
        mod in_process_queue {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (_dir, url) = database();
                    let table = concat!("race_", stringify!($name));
                    scenarios::$name::<SqliteConnection>(&url, table, local_queue()).await;
                }
            )*
        }
        mod redis_queue {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    // Outside CI a missing REDIS_URL only skips this copy: the in-process one ran.
                    let Some(redis) = oncommit_tests::service_url("REDIS_URL") else { return };
                    let (_dir, url) = database();
                    let table = concat!("race_sqlite_", stringify!($name));
                    let queue = redis_queue(&redis, table).await;
                    scenarios::$name::<SqliteConnection>(&url, table, queue).await;
                }
            )*
        }
    };
}

race_test!(
    naive_enqueue_is_seen_to_fail,
    oncommit_holds_the_job_until_commit,
    oncommit_under_load,
    rolled_back_delivers_nothing,
    loop_delivers_each_its_own,
);
