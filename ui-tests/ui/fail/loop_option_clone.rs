//! `clone()` or `unwrap()` of an `Option` or tuple holding a borrow of the loop variable
//! still holds it.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct User {
    id: u64,
    email: String,
}

fn send<T: std::fmt::Debug>(value: T) {
    let _ = format!("{value:?}");
}

#[atomic]
fn notify(conn: &mut Conn<Memory>, users: Vec<User>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for user in users {
        let maybe = Some(&user.email);
        enqueue!(send(maybe.clone()));
        enqueue!(send(Some(&user.email).unwrap()));
        enqueue!(send((user.id, &user.email).clone()));
    }
    Ok(())
}

fn main() {}
