//! Method names that borrow with one arity and not with another: `Cell::get()` copies,
//! `io::Read::read(buf)` returns a count. rustc accepts hooks capturing their results in a
//! loop, and so does the loop-borrow check.
use std::cell::Cell;
use std::io::Read;

use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::Log;

#[atomic]
fn count(conn: &mut Conn<Memory>, log: &Log, cells: Vec<Cell<u32>>, files: Vec<&[u8]>) -> Result<(), Error> {
    for cell in cells {
        enqueue!(log.send(cell.get().to_string()));
    }
    for mut file in files {
        let mut buf = [0u8; 4];
        enqueue!(log.send(file.read(&mut buf).unwrap().to_string()));
    }
    Ok(())
}

fn main() {
    let mut conn = Conn::new(Memory::new());
    let log = Log::new();
    count(&mut conn, &log, vec![Cell::new(7)], vec![b"ab".as_slice()]).unwrap();
    assert_eq!(log.entries(), ["7", "2"]);
}
