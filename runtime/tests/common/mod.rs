//! Helpers shared by the runtime's test suites.
#![allow(dead_code)]

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};

use oncommit::Conn;
use oncommit::memory::Memory;

/// A hook that records `name` in the Memory log (so hooks and statements interleave in one
/// sequence the tests can assert).
pub fn note(db: &Memory, name: &'static str) -> impl FnOnce() + Send + 'static {
    let db = db.clone();
    move || db.execute(format!("hook {name}"))
}

/// The async form of [`note`]: the future yields once before it records.
pub fn note_async(
    db: &Memory,
    name: &'static str,
) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + 'static {
    let db = db.clone();
    move || {
        Box::pin(async move {
            tokio::task::yield_now().await;
            db.execute(format!("hook {name}"));
        })
    }
}

/// The statements a list of `&str` stands for, for comparing with `Memory::statements`.
pub fn lines(expected: &[&str]) -> Vec<String> {
    expected.iter().map(|s| (*s).to_owned()).collect()
}

/// The `hook ...` entries of the log, in order.
pub fn hooks_ran(db: &Memory) -> Vec<String> {
    db.statements()
        .into_iter()
        .filter(|s| s.starts_with("hook "))
        .collect()
}

/// A tracing writer into a shared buffer.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// The lines that contain every one of `needles`.
    pub fn lines_with(&self, needles: &[&str]) -> Vec<String> {
        self.contents()
            .lines()
            .filter(|line| needles.iter().all(|n| line.contains(n)))
            .map(str::to_owned)
            .collect()
    }
}

impl io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Captures everything logged on this thread until the guard is dropped.
pub fn capture_logs() -> (LogBuffer, tracing::subscriber::DefaultGuard) {
    let buffer = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(buffer.clone())
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    (buffer, guard)
}

/// A body error of the tests' own, next to oncommit's.
#[derive(Debug)]
pub enum TestError {
    Body(&'static str),
    Oncommit(oncommit::Error),
}

impl From<oncommit::Error> for TestError {
    fn from(e: oncommit::Error) -> Self {
        TestError::Oncommit(e)
    }
}

impl TestError {
    pub fn oncommit(self) -> oncommit::Error {
        match self {
            TestError::Oncommit(e) => e,
            TestError::Body(b) => panic!("expected an oncommit error, got the body error {b}"),
        }
    }
}

/// A `Memory` database and a `Conn` on it (clones share the log).
pub fn conn() -> (Memory, Conn<Memory>) {
    let db = Memory::new();
    (db.clone(), Conn::new(db))
}

/// How a hook site registered at `file:line` is printed (`file:line:column`), up to the column.
pub fn site_of(file: &str, line: u32) -> String {
    format!("{file}:{line}:")
}
