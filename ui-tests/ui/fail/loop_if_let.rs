//! `if let Some(phone) = &user.phone`: `phone` borrows the loop variable.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct User {
    phone: Option<String>,
}

fn sms(to: impl AsRef<str>) {
    let _ = to.as_ref().len();
}

#[atomic]
fn notify(conn: &mut Conn<Memory>, users: Vec<User>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for user in users {
        if let Some(phone) = &user.phone {
            enqueue!(sms(phone));
        }
    }
    Ok(())
}

fn main() {}
