//! An `#[atomic]` body names the macros' support module by an alias it imports first; the
//! alias resolves wherever `enqueue!` can be: in an `#[atomic]` fn written by a
//! `macro_rules!`, in an `#[atomic]` fn nested inside another's body (which imports it
//! again), and next to a user item of the same name in an outer scope.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::Log;

/// A user item that happens to carry the alias's name, outside the fn bodies.
#[allow(dead_code, non_upper_case_globals)]
const __oncommit_v1: u8 = 0;

macro_rules! saver {
    ($name:ident, $label:literal) => {
        #[atomic]
        fn $name(conn: &mut Conn<Memory>, log: &Log, id: u64) -> Result<(), Error> {
            conn.execute(format!("INSERT {} {id}", $label));
            enqueue!(log.send(format!("{} {id}", $label)));
            Ok(())
        }
    };
}

saver!(save_user, "user");

#[atomic]
fn outer(conn: &mut Conn<Memory>, log: &Log) -> Result<(), Error> {
    #[atomic]
    fn inner(conn: &mut Conn<Memory>, log: &Log) -> Result<(), Error> {
        enqueue!(log.send("inner".to_owned()));
        Ok(())
    }

    enqueue!(log.send("outer".to_owned()));
    inner(conn, log)?;
    save_user(conn, log, 7)
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let log = Log::new();
    outer(&mut conn, &log).unwrap();
    assert_eq!(log.entries(), ["outer", "inner", "user 7"]);
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "RELEASE SAVEPOINT oncommit_1",
            "SAVEPOINT oncommit_1",
            "INSERT user 7",
            "RELEASE SAVEPOINT oncommit_1",
            "COMMIT"
        ]
    );
}
