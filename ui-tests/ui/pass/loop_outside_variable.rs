//! A borrow of a variable bound outside the loop is not a loop-variable borrow: here a
//! `&'static` config, so `&config.prefix` lives long enough and rustc accepts it too.
use std::sync::{Arc, Mutex};

use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn push(&self, prefix: &'static String, id: u64) {
        self.0.lock().unwrap().push(format!("{prefix}{id}"));
    }
}

struct Config {
    prefix: String,
}

#[atomic]
fn tag(conn: &mut Conn<Memory>, seen: &Seen, ids: Vec<u64>) -> Result<(), Error> {
    let config: &'static Config = Box::leak(Box::new(Config { prefix: "job-".into() }));
    for id in ids {
        enqueue!(seen.push(&config.prefix, id));
    }
    Ok(())
}

fn main() {
    let mut conn = Conn::new(Memory::new());
    let seen = Seen::default();
    tag(&mut conn, &seen, vec![1, 2, 3]).unwrap();
    assert_eq!(*seen.0.lock().unwrap(), ["job-1", "job-2", "job-3"]);
}
