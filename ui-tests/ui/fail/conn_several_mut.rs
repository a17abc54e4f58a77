//! No parameter is spelled `&mut Conn<..>`, and several are `&mut`: #[atomic] does not
//! guess. With two named `conn`, `db` or `tx`, it does not guess either.
use oncommit::memory::Memory;
use oncommit::{Error, atomic};

type Db = oncommit::Conn<Memory>;

#[atomic]
fn copy(from: &mut Db, to: &mut Db) -> Result<(), Error> {
    from.execute("SELECT");
    to.execute("INSERT");
    Ok(())
}

#[atomic]
fn copy_named(db: &mut Db, tx: &mut Db, ids: &mut Vec<u64>) -> Result<(), Error> {
    db.execute("SELECT");
    tx.execute("INSERT");
    ids.clear();
    Ok(())
}

fn main() {}
