//! No parameter is spelled `&mut Conn<..>`: #[atomic] takes the one `&mut` parameter, and its
//! type must be a `Conn` (an alias of one is fine). Here it is not.
use oncommit::{Error, atomic, enqueue};

fn send(_id: u64) {}

#[atomic]
fn save(ids: &mut Vec<u64>, id: u64) -> Result<(), Error> {
    ids.push(id);
    enqueue!(send(id));
    Ok(())
}

fn main() {}
