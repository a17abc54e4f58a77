//! A `while let` binding is a loop variable.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

fn run(job: impl AsRef<str>) {
    let _ = job.as_ref().len();
}

#[atomic]
fn drain(conn: &mut Conn<Memory>, mut jobs: Vec<String>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    while let Some(job) = jobs.pop() {
        enqueue!(run(&job));
    }
    Ok(())
}

fn main() {}
