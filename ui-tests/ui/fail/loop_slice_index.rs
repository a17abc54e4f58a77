//! `&ids[..]`: a borrow of a slice of a loop variable.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

fn touch(ids: impl AsRef<[u64]>) {
    let _ = ids.as_ref().len();
}

#[atomic]
fn touch_batches(conn: &mut Conn<Memory>, batches: Vec<Vec<u64>>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for ids in batches {
        enqueue!(touch(&ids[1..]));
    }
    Ok(())
}

fn main() {}
