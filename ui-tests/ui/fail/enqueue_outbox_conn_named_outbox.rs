//! With the connection named `outbox`, `enqueue!(outbox => ..)` is ambiguous.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

fn send(_id: u64) {}

#[atomic]
async fn sign_up(outbox: &mut Conn<Memory>, user_id: u64) -> Result<(), Error> {
    outbox.execute("INSERT");
    enqueue!(outbox => send(user_id));
    Ok(())
}

fn main() {}
