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
//! Run: `cargo bench -p oncommit --bench heap` (prints one line per case; `--n N` to change N).

use std::alloc::System;
use std::hint::black_box;

use cap::Cap;
use oncommit::{Conn, Error, atomic, enqueue, memory::Memory};

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

fn main() {
    let mut n: u64 = 100_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--n" {
            n = args.next().and_then(|v| v.parse().ok()).unwrap_or(n);
        }
        // anything else (`--bench`, filters) is cargo's and ignored
    }
    println!(
        "heap per pending hook, N = {n} (bytes requested from the allocator; target: live <= 64)"
    );
    type Case = (&'static str, fn(&mut Conn<Memory>, u64) -> Footprint);
    let cases: [Case; 4] = [
        ("on_commit, captures 8 bytes", closure_8),
        ("on_commit, captures 16 bytes", closure_16),
        ("enqueue!, captures 8 bytes", |conn, n| {
            let mut out = None;
            macro_8(conn, n, &mut out).expect("committed");
            out.expect("measured")
        }),
        ("enqueue!, captures 16 bytes", |conn, n| {
            let mut out = None;
            macro_16(conn, n, &mut out).expect("committed");
            out.expect("measured")
        }),
    ];
    for (name, case) in cases {
        let mut conn = Conn::new(Memory::new());
        let f = case(&mut conn, n);
        let verdict = if f.live <= 64.0 { "ok" } else { "OVER" };
        println!(
            "heap {name:<30} live {:6.1} B/hook  allocated {:6.1} B/hook  [{verdict}]",
            f.live, f.allocated
        );
    }
}
