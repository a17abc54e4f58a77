//! Heap per pending hook, measured with a counting global allocator (`cap`).
//!
//! One transaction on the memory backend registers N = 100,000 hooks that capture 8 bytes
//! (`u64`) or 16 bytes (`[u64; 2]`), through `Conn::on_commit` and through `#[atomic]` +
//! `enqueue!`. Just before COMMIT it reads:
//!
//! - **live**: heap bytes held (allocated and not freed) since the first registration,
//!   divided by N. This is what waiting hooks cost while the transaction is open. Target:
//!   at most 64 bytes per hook capturing up to 16 bytes.
//! - **allocated**: bytes requested from the allocator during the registrations (including
//!   buffers freed again when a vector grew), divided by N.
//!
//! Bytes are the sizes requested from the allocator; malloc's own per-block header and
//! rounding come on top, which is why storing hooks without a `Box` each matters.
//!
//! Criterion measures the live bytes per pending hook with its own sampling (a custom
//! measurement, [`LiveHeap`], in place of wall time); before that, one line per case at
//! N = 100,000 gives both figures and the target's verdict.
//!
//! Run: `cargo bench -p oncommit --bench heap`

use std::alloc::System;
use std::hint::black_box;

use cap::Cap;
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{Criterion, SamplingMode, Throughput};
use oncommit::{Conn, Error, atomic, enqueue, memory::Memory};
use std::time::Duration;

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

/// Heap counters at one point in time.
#[derive(Clone, Copy)]
struct Counters {
    live: usize,
    total: usize,
}

fn counters() -> Counters {
    Counters {
        live: ALLOC.allocated(),
        total: ALLOC.total_allocated(),
    }
}

/// What registering `n` hooks cost, measured inside the open transaction.
struct Footprint {
    live: f64,
    allocated: f64,
}

fn footprint(n: u64, before: Counters, after: Counters) -> Footprint {
    Footprint {
        live: (after.live as f64 - before.live as f64) / n as f64,
        allocated: (after.total - before.total) as f64 / n as f64,
    }
}

fn sink8(value: u64) {
    black_box(value);
}

fn sink16(value: [u64; 2]) {
    black_box(value);
}

fn closure_8(conn: &mut Conn<Memory>, n: u64) -> Footprint {
    let mut measured = None;
    conn.atomic(|conn| {
        let before = counters();
        for i in 0..n {
            conn.on_commit(move || sink8(i))?;
        }
        measured = Some(footprint(n, before, counters()));
        Ok::<_, Error>(())
    })
    .expect("committed");
    measured.expect("measured inside the transaction")
}

fn closure_16(conn: &mut Conn<Memory>, n: u64) -> Footprint {
    let mut measured = None;
    conn.atomic(|conn| {
        let before = counters();
        for i in 0..n {
            let value = [i, !i];
            conn.on_commit(move || sink16(value))?;
        }
        measured = Some(footprint(n, before, counters()));
        Ok::<_, Error>(())
    })
    .expect("committed");
    measured.expect("measured inside the transaction")
}

#[atomic]
fn macro_8(conn: &mut Conn<Memory>, n: u64, out: &mut Option<Footprint>) -> Result<(), Error> {
    let before = counters();
    for i in 0..n {
        enqueue!(sink8(i));
    }
    *out = Some(footprint(n, before, counters()));
    Ok(())
}

#[atomic]
fn macro_16(conn: &mut Conn<Memory>, n: u64, out: &mut Option<Footprint>) -> Result<(), Error> {
    let before = counters();
    for i in 0..n {
        let value = [i, !i];
        enqueue!(sink16(value));
    }
    *out = Some(footprint(n, before, counters()));
    Ok(())
}

/// Criterion's measurement for this bench: heap bytes held (allocated and not freed), read
/// from the counting allocator.
struct LiveHeap;

impl Measurement for LiveHeap {
    type Intermediate = usize;
    type Value = f64;

    fn start(&self) -> usize {
        ALLOC.allocated()
    }

    fn end(&self, start: usize) -> f64 {
        ALLOC.allocated() as f64 - start as f64
    }

    fn add(&self, a: &f64, b: &f64) -> f64 {
        a + b
    }

    fn zero(&self) -> f64 {
        0.0
    }

    fn to_f64(&self, value: &f64) -> f64 {
        *value
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &Bytes
    }
}

/// Values in bytes, unscaled.
struct Bytes;

impl ValueFormatter for Bytes {
    fn scale_values(&self, _typical: f64, _values: &mut [f64]) -> &'static str {
        "B"
    }

    fn scale_throughputs(
        &self,
        _typical: f64,
        _throughput: &Throughput,
        _values: &mut [f64],
    ) -> &'static str {
        "B"
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "B"
    }
}

type Case = (&'static str, fn(&mut Conn<Memory>, u64) -> Footprint);

const CASES: [Case; 4] = [
    ("on_commit_captures_8_bytes", closure_8),
    ("on_commit_captures_16_bytes", closure_16),
    ("enqueue_captures_8_bytes", |conn, n| {
        let mut out = None;
        macro_8(conn, n, &mut out).expect("committed");
        out.expect("measured")
    }),
    ("enqueue_captures_16_bytes", |conn, n| {
        let mut out = None;
        macro_16(conn, n, &mut out).expect("committed");
        out.expect("measured")
    }),
];

/// Criterion: each iteration is one pending hook; a sample registers `iters` hooks in one
/// transaction and reports the heap they hold just before COMMIT (so the figure is bytes per
/// pending hook, averaged over transactions of different sizes).
fn criterion_benches(c: &mut Criterion<LiveHeap>) {
    let mut group = c.benchmark_group("heap_per_pending_hook");
    group
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .sampling_mode(SamplingMode::Flat);
    for (name, case) in CASES {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut conn = Conn::new(Memory::new());
                case(&mut conn, iters).live * iters as f64
            })
        });
    }
    group.finish();
}

/// First one line per case at N = 100,000 hooks in one transaction, with the target's verdict
/// (the live and allocated bytes); then the criterion benches.
fn main() {
    let n: u64 = 100_000;
    println!(
        "heap per pending hook, N = {n} (bytes requested from the allocator; target: live <= 64)"
    );
    for (name, case) in CASES {
        let mut conn = Conn::new(Memory::new());
        let f = case(&mut conn, n);
        let verdict = if f.live <= 64.0 { "ok" } else { "OVER" };
        println!(
            "heap {name:<30} live {:6.1} B/hook  allocated {:6.1} B/hook  [{verdict}]",
            f.live, f.allocated
        );
    }
    let mut criterion = Criterion::default()
        .with_measurement(LiveHeap)
        .without_plots()
        .configure_from_args();
    criterion_benches(&mut criterion);
    criterion.final_summary();
}
