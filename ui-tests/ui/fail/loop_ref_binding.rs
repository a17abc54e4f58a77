//! `ref email` in a match arm: a borrow into the loop variable.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

enum Contact {
    Email(String),
    Phone(String),
}

fn send(to: impl AsRef<str>) {
    let _ = to.as_ref().len();
}

#[atomic]
fn notify(conn: &mut Conn<Memory>, contacts: Vec<Contact>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for contact in contacts {
        match contact {
            Contact::Email(ref email) => enqueue!(send(email)),
            Contact::Phone(_) => {}
        }
    }
    Ok(())
}

fn main() {}
