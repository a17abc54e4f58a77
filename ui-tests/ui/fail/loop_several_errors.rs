//! Several bad captures in one fn: one error each, in source order.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct User {
    id: u64,
    email: String,
}

fn send(to: impl AsRef<str>) {
    let _ = to.as_ref().len();
}

fn audit(user: impl std::borrow::Borrow<User>) {
    let _ = user.borrow().id;
}

#[atomic]
fn notify(conn: &mut Conn<Memory>, users: Vec<User>, admins: Vec<User>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for user in users {
        enqueue!(send(&user.email));
        enqueue!(audit(&user));
    }
    for admin in admins {
        enqueue!(send(admin.email.trim()));
    }
    Ok(())
}

fn main() {}
