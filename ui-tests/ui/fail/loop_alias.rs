//! `let email = &user.email;` then `enqueue!(send(email))`: an alias of a borrow.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct User {
    email: String,
}

fn send(to: impl AsRef<str>) {
    let _ = to.as_ref().len();
}

#[atomic]
fn notify(conn: &mut Conn<Memory>, users: Vec<User>) -> Result<(), Error> {
    for user in users {
        let email = &user.email;
        conn.execute(format!("UPDATE users SET notified = true WHERE email = '{email}'"));
        enqueue!(send(email));
    }
    Ok(())
}

fn main() {}
