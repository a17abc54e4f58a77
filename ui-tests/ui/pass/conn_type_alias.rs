//! The connection parameter under another name: a type alias of `Conn<C>`, a generic alias,
//! and `use oncommit::Conn as Tx`. With no parameter spelled `&mut Conn<..>`, #[atomic] takes
//! the one `&mut` parameter, or among several the one named `conn`, `db` or `tx`.
use oncommit::memory::Memory;
use oncommit::{Conn as Tx, Error, atomic, enqueue};
use oncommit_ui_tests::{Log, block_on};

type Db = oncommit::Conn<Memory>;
type GenericDb<C> = oncommit::Conn<C>;

#[atomic]
async fn sign_up(db: &mut Db, log: &Log, id: u64) -> Result<(), Error> {
    db.execute(format!("INSERT {id}"));
    enqueue!(log.send(format!("welcome {id}")));
    audit(db, log, id)?; // a nested #[atomic] fn: a savepoint
    Ok(())
}

#[atomic]
fn audit(tx: &mut Tx<Memory>, log: &Log, id: u64) -> Result<(), Error> {
    tx.execute(format!("INSERT audit {id}"));
    enqueue!(log.send(format!("audited {id}")));
    Ok(())
}

/// Several `&mut` parameters: the one named `conn` holds the transaction.
#[atomic(retry = 2)]
fn count<C: oncommit::SyncBackend>(
    counter: &mut u64,
    conn: &mut GenericDb<C>,
    seen: &mut Vec<u64>,
    log: &Log,
) -> Result<(), Error> {
    *counter += 1;
    seen.push(*counter);
    enqueue!(log.send(format!("counted {counter}")));
    Ok(())
}

fn main() {
    let memory = Memory::new();
    let mut db: Db = Tx::new(memory.clone());
    let log = Log::new();
    block_on(sign_up(&mut db, &log, 7)).unwrap();
    assert_eq!(log.entries(), ["welcome 7", "audited 7"]);
    assert_eq!(
        memory.statements(),
        [
            "BEGIN",
            "INSERT 7",
            "SAVEPOINT oncommit_1",
            "INSERT audit 7",
            "RELEASE SAVEPOINT oncommit_1",
            "COMMIT"
        ]
    );

    let (mut counter, mut seen) = (0, Vec::new());
    count(&mut counter, &mut db, &mut seen, &log).unwrap();
    assert_eq!((counter, seen), (1, vec![1]));
    assert_eq!(log.entries().last().map(String::as_str), Some("counted 1"));
}
