//! `enqueue!` in expression positions: a match arm, an `if` branch, a closure body, nested
//! blocks, and a closure called later in the body.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::Log;

#[atomic]
fn dispatch(conn: &mut Conn<Memory>, log: &Log, kinds: &[u8]) -> Result<(), Error> {
    for &kind in kinds {
        match kind {
            0 => enqueue!(log.send("zero".to_owned())),
            1 => {
                enqueue!(log.send("one".to_owned()));
            }
            _ => (),
        }
        if kind == 2 {
            enqueue!(log.send("two".to_owned()))
        } else if kind == 3 {
            {
                {
                    enqueue!(log.send("three".to_owned()));
                }
            }
        }
    }
    let mut later = |n: u8| enqueue!(log.send(format!("closure {n}")));
    later(4);
    later(5);
    let unit: () = enqueue!(log.send("as a value".to_owned()));
    let () = unit;
    Ok(())
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let log = Log::new();
    dispatch(&mut conn, &log, &[3, 0, 9, 2, 1]).unwrap();
    assert_eq!(
        log.entries(),
        ["three", "zero", "two", "one", "closure 4", "closure 5", "as a value"]
    );
    assert_eq!(db.statements(), ["BEGIN", "COMMIT"]);
}
