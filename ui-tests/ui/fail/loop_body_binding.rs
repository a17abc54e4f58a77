//! A `let` inside a `loop` body is a loop variable too.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

fn report(line: impl AsRef<str>) {
    let _ = line.as_ref().len();
}

#[atomic]
fn poll(conn: &mut Conn<Memory>, mut remaining: u32) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    loop {
        if remaining == 0 {
            break;
        }
        remaining -= 1;
        let line = format!("{remaining} left");
        enqueue!(report(&line));
    }
    Ok(())
}

fn main() {}
