//! `impl Trait` arguments, in sync and async fns; values from the iterator are captured by
//! value.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::{Log, block_on};

#[atomic]
fn save_all(conn: &mut Conn<Memory>, log: &Log, ids: impl IntoIterator<Item = u32>) -> Result<usize, Error> {
    let mut n = 0;
    for id in ids {
        conn.execute(format!("INSERT {id}"));
        enqueue!(log.send(format!("id {id}")));
        n += 1;
    }
    Ok(n)
}

#[atomic]
async fn label(conn: &mut Conn<Memory>, log: &Log, name: impl std::fmt::Display) -> Result<(), Error> {
    let text = name.to_string();
    enqueue!(log.push(text).await);
    Ok(())
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let log = Log::new();
    assert_eq!(save_all(&mut conn, &log, [3, 1, 2]).unwrap(), 3);
    block_on(label(&mut conn, &log, 'x')).unwrap();
    assert_eq!(log.entries(), ["id 3", "id 1", "id 2", "x"]);
    assert_eq!(
        db.statements(),
        ["BEGIN", "INSERT 3", "INSERT 1", "INSERT 2", "COMMIT", "BEGIN", "COMMIT"]
    );
}
