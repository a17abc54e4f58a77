//! A `move` closure or `async move` block owns the loop variable it mentions: accepted.
use std::future::Future;
use std::sync::{Arc, Mutex};

use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn later(&self, f: impl FnOnce() -> String) {
        self.0.lock().unwrap().push(f());
    }

    async fn later_async(&self, job: impl Future<Output = String>) {
        let line = job.await;
        self.0.lock().unwrap().push(line);
    }
}

#[atomic]
async fn schedule(conn: &mut Conn<Memory>, seen: &Seen, names: Vec<String>) -> Result<(), Error> {
    for name in names {
        let upper = name.to_uppercase();
        enqueue!(seen.later(move || format!("sync {name}")));
        enqueue!(seen.later_async(async move { format!("async {upper}") }).await);
    }
    Ok(())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut conn = Conn::new(Memory::new());
    let seen = Seen::default();
    runtime
        .block_on(schedule(&mut conn, &seen, vec!["ann".into(), "bob".into()]))
        .unwrap();
    assert_eq!(
        *seen.0.lock().unwrap(),
        ["sync ann", "async ANN", "sync bob", "async BOB"]
    );
}
