//! Shared helpers of the integration suites: service URLs, skipping, fresh databases.

pub mod crash;
pub mod db;
pub mod jetstream;
pub mod outbox;
pub mod proxy;
pub mod rabbitmq;
pub mod race;
pub mod streams;

/// Reads the URL of a service from `var`. Outside CI a missing variable skips the suite with
/// a printed reason (`None`); under `CI=true` it is a failure.
pub fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if in_ci() => {
            panic!("{var} is not set, and CI=true requires every service suite to run")
        }
        _ => {
            skip(format!("{var} is not set (see DEVELOPERS.md)"));
            None
        }
    }
}

/// A name for a table (or schema) of one test: `prefix`, the process id and a counter, so
/// suites and their tests can run at once on one database.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// True under `CI=true`, where every service suite must run.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The service named by `var` is set but could not be reached: outside CI the suite skips
/// with a printed reason (`None`); under `CI=true` it is a failure.
pub fn service_unreachable<T>(var: &str, error: &dyn std::fmt::Display) -> Option<T> {
    if in_ci() {
        panic!(
            "{var} is set but the service is unreachable ({error}), and CI=true requires every service suite to run"
        )
    }
    skip(format!("the service at {var} is unreachable: {error}"));
    None
}

/// Prints why a suite skips, once per reason and test binary. It writes to the stderr handle
/// rather than with `eprintln!`, so the test harness shows it instead of capturing it.
fn skip(reason: String) {
    use std::io::Write;
    static SAID: std::sync::Mutex<std::collections::BTreeSet<String>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let first = SAID
        .lock()
        .map(|mut said| said.insert(reason.clone()))
        .unwrap_or(true);
    if first {
        let _ = writeln!(std::io::stderr(), "skipping: {reason}");
    }
}

/// Runs each generic case `async fn case<D>(db: D)` on SQLite, Postgres and MariaDB, with the
/// factories of `$factories` (a module with `sqlite()`, `postgres()` and `mariadb()`, such as
/// [`db`] or [`outbox`]): one `#[tokio::test]` per case and database, in the modules `sqlite`,
/// `postgres` and `mariadb`. A database whose factory gives `None` (its URL unset, outside
/// CI) is skipped.
#[macro_export]
macro_rules! on_each_db {
    ($factories:path; $($case:ident),* $(,)?) => {
        $crate::on_each_db!(@db sqlite, $factories; $($case),*);
        $crate::on_each_db!(@db postgres, $factories; $($case),*);
        $crate::on_each_db!(@db mariadb, $factories; $($case),*);
    };
    (@db $db:ident, $factories:path; $($case:ident),*) => {
        mod $db {
            $(#[tokio::test]
            async fn $case() {
                use $factories as factories;
                if let Some(db) = factories::$db().await {
                    super::$case(db).await;
                }
            })*
        }
    };
}
