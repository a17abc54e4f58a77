//! What an operator sees of a relay (on SQLite): the `metrics` counters of published, retried
//! and dead-lettered jobs, the backlog gauges (jobs waiting, age of the oldest, dead letters),
//! and one `oncommit.relay.batch` span per batch with its figures. The recorder is set for
//! the test's thread, the subscriber for the process (this binary's only test).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use oncommit::outbox::Job;
use oncommit::outbox::relay::{Relay, RelayOptions};
use oncommit::outbox::sink::{ChannelSink, Delivery, FaultySink};
use oncommit_tests::outbox::OutboxDb;
use oncommit_tests::race::AppError;

#[derive(serde::Serialize)]
struct Ping {
    n: i64,
}

impl Job for Ping {
    const TOPIC: &'static str = "relay_metrics";
}

/// The value of each metric, by name.
fn values(recorder: &DebuggingRecorder) -> Vec<(String, f64)> {
    let mut values: Vec<(String, f64)> = recorder
        .snapshotter()
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let value = match value {
                DebugValue::Counter(n) => n as f64,
                DebugValue::Gauge(g) => g.into_inner(),
                DebugValue::Histogram(_) => f64::NAN,
            };
            (key.key().name().to_owned(), value)
        })
        .collect();
    values.sort_by(|a, b| a.0.cmp(&b.0));
    values
}

fn value(values: &[(String, f64)], name: &str) -> f64 {
    values
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no metric {name} in {values:?}"))
        .1
}

/// A writer that collects what the fmt subscriber prints.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn counters_gauges_and_spans() {
    let db = oncommit_tests::outbox::sqlite().await.unwrap();
    let recorder = DebuggingRecorder::new();
    let _metrics = metrics::set_default_local_recorder(&recorder);
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .finish();
    // The global default (this binary's only test): a thread's own default races with
    // tracing's process-wide callsite cache when other threads (sqlx's SQLite worker) log.
    tracing::subscriber::set_global_default(subscriber).expect("the test's subscriber");

    let mut conn = db.writer().await;
    for n in 0..5 {
        conn.atomic_async(async |conn| Ok::<_, AppError>(conn.enqueue_job(&Ping { n })?))
            .await
            .unwrap();
    }
    let (inner, received) = ChannelSink::new();
    // Job 3 fails for good, job 4 once.
    let sink = FaultySink::new(inner).poison(|d: &Delivery| d.payload.contains("3"));
    let mut options = RelayOptions::default();
    options.topics = vec![Ping::TOPIC.to_owned()];
    options.max_attempts = 1;
    options.batch = 5;
    let relay = Relay::new(db.pool().clone(), sink, options);

    let backlog = relay.backlog().await.unwrap();
    assert_eq!((backlog.jobs, backlog.dead), (5, 0));
    assert!(backlog.oldest.is_some());
    assert_eq!(value(&values(&recorder), "oncommit_outbox_backlog"), 5.0);

    let drained = relay.drain_once().await.unwrap();
    assert_eq!((drained.published, drained.dead_lettered), (4, 1));
    assert_eq!(received.try_iter().count(), 4);
    let backlog = relay.backlog().await.unwrap();
    assert_eq!((backlog.jobs, backlog.oldest, backlog.dead), (0, None, 1));

    // A job that fails once with attempts to spare is retried.
    conn.atomic_async(async |conn| Ok::<_, AppError>(conn.enqueue_job(&Ping { n: 6 })?))
        .await
        .unwrap();
    let mut options = relay.options().clone();
    options.max_attempts = 2;
    options.backoff = Duration::from_secs(60);
    let (inner, _received) = ChannelSink::new();
    let flaky = FaultySink::new(inner);
    flaky.fail_next(1);
    let drained = Relay::new(db.pool().clone(), flaky, options)
        .drain_once()
        .await
        .unwrap();
    assert_eq!(drained.retried, 1);

    let metrics = values(&recorder);
    assert_eq!(value(&metrics, "oncommit_outbox_published_total"), 4.0);
    assert_eq!(value(&metrics, "oncommit_outbox_dead_lettered_total"), 1.0);
    assert_eq!(value(&metrics, "oncommit_outbox_retried_total"), 1.0);
    assert_eq!(value(&metrics, "oncommit_outbox_backlog"), 0.0);
    assert_eq!(value(&metrics, "oncommit_outbox_oldest_age_seconds"), 0.0);
    assert_eq!(value(&metrics, "oncommit_outbox_dead"), 1.0);

    // A span closes when its last handle goes: sqlx hands a pooled connection back in a task
    // of its own that holds the current span a moment longer, so wait for the second close.
    let closed = |logs: &str| {
        logs.lines()
            .filter(|line| line.contains("oncommit.relay.batch") && line.contains("close"))
            .count()
    };
    let read = || String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    for _ in 0..500 {
        if closed(&read()) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let logs = read();
    let batches: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("oncommit.relay.batch") && line.contains("close"))
        .collect();
    assert_eq!(batches.len(), 2, "{logs}");
    assert!(
        batches[0].contains("jobs=5")
            && batches[0].contains("published=4")
            && batches[0].contains("dead_lettered=1"),
        "{}",
        batches[0]
    );
    assert!(batches[1].contains("retried=1"), "{}", batches[1]);
}
