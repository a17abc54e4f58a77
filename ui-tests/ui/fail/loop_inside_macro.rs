//! An `enqueue!` inside another macro's arguments (`vec![..]`) is checked too.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

fn send(to: impl AsRef<str>) {
    let _ = to.as_ref().len();
}

#[atomic]
fn notify(conn: &mut Conn<Memory>, names: Vec<String>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for name in names {
        let done = vec![enqueue!(send(name.trim()))];
        assert_eq!(done.len(), 1);
    }
    Ok(())
}

fn main() {}
