//! Two `&mut Conn<..>` parameters: say which one holds the transaction.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic};

#[atomic]
fn copy(from: &mut Conn<Memory>, to: &mut oncommit::Conn<Memory>) -> Result<(), Error> {
    from.execute("SELECT");
    to.execute("INSERT");
    Ok(())
}

fn main() {}
