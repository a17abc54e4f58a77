//! The expansion compiles without warnings under strict lint levels a user may set.
#![deny(
    warnings,
    unused,
    unused_qualifications,
    unused_results,
    unused_lifetimes,
    single_use_lifetimes,
    trivial_casts,
    trivial_numeric_casts,
    unreachable_pub,
    let_underscore_drop,
    rust_2018_idioms,
    rust_2024_compatibility,
    clippy::all
)]

use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::{Log, block_on};

#[atomic]
fn sync_fn(conn: &mut Conn<Memory>, log: &Log, id: u64) -> Result<u64, Error> {
    enqueue!(log.send(format!("sync {id}")));
    enqueue!(log.try_send(format!("try {id}"))?, robust);
    enqueue!(conn => log.send("explicit".to_owned()))?;
    Ok(id)
}

#[atomic(durable)]
async fn async_fn(conn: &mut Conn<Memory>, log: &Log) -> Result<(), Error> {
    enqueue!(log.push("async".to_owned()).await?);
    enqueue!(log.push("async plain".to_owned()).await);
    Ok(())
}

fn main() {
    let mut conn = Conn::new(Memory::new());
    let log = Log::new();
    assert_eq!(sync_fn(&mut conn, &log, 1).unwrap(), 1);
    block_on(async_fn(&mut conn, &log)).unwrap();
    assert_eq!(
        log.entries(),
        ["sync 1", "try 1", "explicit", "async", "async plain"]
    );
}
