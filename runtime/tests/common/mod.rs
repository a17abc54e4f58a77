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

thread_local! {
    /// The buffer `capture_logs` set on this thread, if any.
    static CAPTURING: std::cell::RefCell<Option<LogBuffer>> = const { std::cell::RefCell::new(None) };
}

/// The global subscriber's writer: this thread's capture buffer, or nowhere.
struct ThreadBuffer;

impl io::Write for ThreadBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        CAPTURING.with(|current| match &mut *current.borrow_mut() {
            Some(buffer) => buffer.write(buf),
            None => Ok(buf.len()),
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Stops capturing on this thread when dropped.
pub struct CaptureGuard(());

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CAPTURING.with(|current| *current.borrow_mut() = None);
    }
}

/// Captures everything logged on this thread until the guard is dropped.
///
/// One global subscriber, installed once, writes each event to the capturing thread's
/// buffer: with a subscriber per test (`set_default`), tests running in parallel raced on
/// tracing's shared callsite and level caches and now and then lost an event.
pub fn capture_logs() -> (LogBuffer, CaptureGuard) {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| ThreadBuffer)
            .with_max_level(tracing::Level::TRACE)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the tests' global subscriber");
    });
    let buffer = LogBuffer::default();
    CAPTURING.with(|current| *current.borrow_mut() = Some(buffer.clone()));
    (buffer, CaptureGuard(()))
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
