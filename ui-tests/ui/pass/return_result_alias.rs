//! Return types spelled through aliases (`AppResult<T>`, `Fallible<T>`, `std::result::Result`), and a tuple
//! value, and `Result<impl Display, E>`.
use oncommit::memory::Memory;
use oncommit::{Conn, atomic, enqueue};
use oncommit_ui_tests::{AppError, Log};

type AppResult<T> = Result<T, AppError>;
type Fallible<T> = Result<T, oncommit::Error>;

#[atomic]
fn save(conn: &mut Conn<Memory>, log: &Log) -> AppResult<(u8, String)> {
    enqueue!(log.send("alias".to_owned()));
    Ok((1, "one".to_owned()))
}

#[derive(Debug)]
struct IoLike(std::io::Error);

impl From<oncommit::Error> for IoLike {
    fn from(e: oncommit::Error) -> Self {
        IoLike(std::io::Error::other(e))
    }
}

#[atomic]
fn save_io(conn: &mut Conn<Memory>, log: &Log) -> std::result::Result<(), IoLike> {
    enqueue!(log.send("qualified".to_owned()));
    Ok(())
}

#[atomic]
fn describe(conn: &mut Conn<Memory>, log: &Log) -> Result<impl std::fmt::Display, AppError> {
    enqueue!(log.send("impl Trait".to_owned()));
    Ok(42)
}

#[atomic]
fn fallible(conn: &mut Conn<Memory>, log: &Log) -> Fallible<u8> {
    enqueue!(log.send("fallible".to_owned()));
    Ok(3)
}

fn main() {
    let mut conn = Conn::new(Memory::new());
    let log = Log::new();
    assert_eq!(save(&mut conn, &log).unwrap(), (1, "one".to_owned()));
    if let Err(IoLike(e)) = save_io(&mut conn, &log) {
        panic!("{e}");
    }
    assert_eq!(describe(&mut conn, &log).unwrap().to_string(), "42");
    assert_eq!(fallible(&mut conn, &log).unwrap(), 3);
    assert_eq!(log.entries(), ["alias", "qualified", "impl Trait", "fallible"]);
}
