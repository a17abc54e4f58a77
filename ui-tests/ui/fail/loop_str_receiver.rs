//! A receiver that is a `&str` of the loop variable cannot be cloned into the hook (a `str`
//! has no owned form of its own type): the check names the loop, and its help (an owned
//! `String`, whose methods include the `str`'s) compiles. `split_once` and `dbg!` keep the
//! borrow of what they are given.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

trait Notify {
    fn notify(&self);
}

impl Notify for str {
    fn notify(&self) {
        let _ = self.len();
    }
}

struct User {
    name: String,
    email: String,
}

fn send<T: std::fmt::Debug>(value: T) {
    let _ = format!("{value:?}");
}

#[atomic]
fn notify(conn: &mut Conn<Memory>, users: Vec<User>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for user in users {
        let name = user.name.trim();
        enqueue!(name.notify());
        enqueue!(send(dbg!(&user.email)));
    }
    Ok(())
}

fn main() {}
