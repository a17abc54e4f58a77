//! Hook cost on the memory backend, reported **per hook**.
//!
//! - `register_run/N`: one transaction, N sync hooks registered with `Conn::on_commit`, then
//!   COMMIT runs them all. Target: median <= 50 ns per hook, and flat (N = 1e6 within 1.5x of
//!   N = 1e3).
//! - `register_run_defer/N`: the same through `__private::v1::defer`, the path `enqueue!`
//!   expands to inside an `#[atomic]` body (no per-hook depth check against the backend).
//! - `savepoint_release/N`: one outer transaction; per hook a savepoint is opened, the hook
//!   registered and the savepoint released; the outer COMMIT runs them. Target <= 100 ns per
//!   hook.
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
use oncommit::{Conn, Error, memory::Memory};

const SIZES: [u64; 4] = [1_000, 10_000, 100_000, 1_000_000];

/// Runs `txn` (one transaction of `n` hooks) often enough to cover `iters` hooks and returns
/// the time scaled to exactly `iters` hooks.
fn per_hook(iters: u64, n: u64, mut txn: impl FnMut(&mut Conn<Memory>)) -> Duration {
    let txns = iters.div_ceil(n).max(1);
    let mut total = Duration::ZERO;
    for _ in 0..txns {
        let mut conn = Conn::new(Memory::new());
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

fn register_run_defer(conn: &mut Conn<Memory>, n: u64) {
    static SITE: oncommit::__private::v1::StaticSite = oncommit::__private::v1::StaticSite {
        call: "black_box(i)",
        location: oncommit::__private::v1::Location::caller(),
    };
    conn.atomic(|conn| {
        for i in 0..n {
            let hook = oncommit::__private::v1::sync_hook(&SITE, false, move || {
                black_box(i);
            });
            oncommit::__private::v1::defer(conn, hook);
        }
        Ok::<_, Error>(())
    })
    .expect("hooks ran");
}

fn savepoint_release(conn: &mut Conn<Memory>, n: u64) {
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

fn group(c: &mut Criterion, name: &str, sizes: &[u64], txn: fn(&mut Conn<Memory>, u64)) {
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
    group(c, "register_run_defer", &SIZES, register_run_defer);
    group(c, "savepoint_release", &SIZES[..3], savepoint_release);
}

criterion_group!(hooks, benches);
criterion_main!(hooks);
