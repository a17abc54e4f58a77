//! `level.as_str()` of a type whose `as_str` returns `&'static str` (as `log::Level`'s does)
//! borrows nothing of the loop; `total + 1` of a type whose `Add<i32>` takes it by value
//! moves it into the closure. Both compile, so the check says nothing.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

#[derive(Clone, Copy)]
enum Level {
    Info,
    Warn,
}

impl Level {
    fn as_str(&self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
        }
    }
}

/// A big number: not `Copy`, added to by value.
struct Big(Vec<u64>);

impl std::ops::Add<i32> for Big {
    type Output = Big;

    fn add(mut self, n: i32) -> Big {
        self.0.push(n as u64);
        self
    }
}

fn log_at(level: &'static str) {
    let _ = level.len();
}

fn later(f: impl FnOnce() -> Big + Send + 'static) {
    let _ = f().0.len();
}

#[atomic]
fn audit(conn: &mut Conn<Memory>, levels: Vec<Level>, totals: Vec<Big>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET audited_at = now()");
    for level in levels {
        enqueue!(log_at(level.as_str()));
        let label = level.as_str();
        enqueue!(log_at(label));
    }
    for total in totals {
        enqueue!(later(|| total + 1));
    }
    Ok(())
}

fn main() {
    let mut conn = Conn::new(Memory::new());
    audit(&mut conn, vec![Level::Info, Level::Warn], vec![Big(vec![1])]).unwrap();
}
