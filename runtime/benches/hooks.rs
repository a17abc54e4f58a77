//! Hook cost on the memory backend, reported **per hook**.
//!
//! - `register_run/N`: one transaction, N sync hooks registered with `Conn::on_commit`, then
//!   COMMIT runs them all. Target: median <= 50 ns per hook, and flat (N = 1e6 within 1.5x of
//!   N = 1e3).
//! - `register_run_enqueue/N`: the same with `#[atomic]` and `enqueue!(sink(i))` (the macro
//!   path: no per-hook depth check against the backend).
//! - `savepoint_release/N`: one outer transaction; per hook a savepoint is opened, the hook
//!   registered and the savepoint released; the outer COMMIT runs them. Target <= 100 ns per
//!   hook.
//! - `savepoint_release_depth_only/N`, `register_run_depth_only/N`: the same on a backend
//!   that only counts its depth (no statement log), to separate oncommit's own cost from
//!   the memory backend's.
//!
//! Each criterion "iteration" is one hook: a sample of `iters` hooks runs `ceil(iters / N)`
//! whole transactions of N hooks and scales the measured time to `iters` hooks, so criterion's
//! estimates (and `target/criterion/<group>/<N>/new/estimates.json`) are nanoseconds per
//! hook. Setting up and dropping the connection is not timed; BEGIN and COMMIT are.
//!
//! Run: `cargo bench -p oncommit --bench hooks`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use oncommit::{
    Backend, BoxError, CommitFailure, Conn, Error, SyncBackend, atomic, enqueue, memory::Memory,
};

const SIZES: [u64; 4] = [1_000, 10_000, 100_000, 1_000_000];

/// Runs `txn` (one transaction of `n` hooks) often enough to cover `iters` hooks and returns
/// the time scaled to exactly `iters` hooks.
fn per_hook<B: SyncBackend + Default>(
    iters: u64,
    n: u64,
    mut txn: impl FnMut(&mut Conn<B>),
) -> Duration {
    let txns = iters.div_ceil(n).max(1);
    let mut total = Duration::ZERO;
    for _ in 0..txns {
        let mut conn = Conn::new(B::default());
        let start = Instant::now();
        txn(&mut conn);
        total += start.elapsed();
        drop(black_box(conn));
    }
    total.mul_f64(iters as f64 / (txns * n) as f64)
}

fn register_run(conn: &mut Conn<Memory>, n: u64) {
    conn.atomic(|conn| {
        for i in 0..n {
            conn.on_commit(move || {
                black_box(i);
            })?;
        }
        Ok::<_, Error>(())
    })
    .expect("hooks ran");
}

fn sink(value: u64) {
    black_box(value);
}

#[atomic]
fn register_run_enqueue(conn: &mut Conn<Memory>, n: u64) -> Result<(), Error> {
    for i in 0..n {
        enqueue!(sink(i));
    }
    Ok(())
}

/// A backend that only counts its depth: what is left of `savepoint_release` when the
/// memory backend's statement log (a formatted `String` per SAVEPOINT and RELEASE) is taken
/// out, i.e. oncommit's own cost.
#[derive(Default)]
struct DepthOnly {
    depth: usize,
}

impl Backend for DepthOnly {
    fn transaction_depth(&mut self) -> usize {
        self.depth
    }

    fn start_rollback(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
}

impl SyncBackend for DepthOnly {
    fn begin(&mut self) -> Result<(), BoxError> {
        self.depth += 1;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), CommitFailure> {
        self.depth -= 1;
        Ok(())
    }

    fn rollback(&mut self) -> Result<(), BoxError> {
        self.depth -= 1;
        Ok(())
    }
}

fn savepoint_release<B: SyncBackend>(conn: &mut Conn<B>, n: u64) {
    conn.atomic(|conn| {
        for i in 0..n {
            conn.atomic(|conn| {
                conn.on_commit(move || {
                    black_box(i);
                })
            })?;
        }
        Ok::<_, Error>(())
    })
    .expect("hooks ran");
}

fn group<B: SyncBackend + Default>(
    c: &mut Criterion,
    name: &str,
    sizes: &[u64],
    txn: fn(&mut Conn<B>, u64),
) {
    let mut group = c.benchmark_group(name);
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(1));
    for &n in sizes {
        if n >= 1_000_000 {
            group.sample_size(20);
            group.measurement_time(Duration::from_secs(8));
        } else {
            group.sample_size(50);
            group.measurement_time(Duration::from_secs(4));
        }
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_custom(|iters| per_hook(iters, n, |conn| txn(conn, n)))
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    group(c, "register_run", &SIZES, register_run);
    group(c, "register_run_enqueue", &SIZES, |conn, n| {
        register_run_enqueue(conn, n).expect("hooks ran")
    });
    group(
        c,
        "savepoint_release",
        &SIZES[..3],
        savepoint_release::<Memory>,
    );
    group(
        c,
        "savepoint_release_depth_only",
        &SIZES[..3],
        savepoint_release::<DepthOnly>,
    );
    group(
        c,
        "register_run_depth_only",
        &SIZES,
        |conn: &mut Conn<DepthOnly>, n| {
            conn.atomic(|conn| {
                for i in 0..n {
                    conn.on_commit(move || sink(i))?;
                }
                Ok::<_, Error>(())
            })
            .expect("hooks ran")
        },
    );
}

criterion_group!(hooks, benches);
criterion_main!(hooks);
