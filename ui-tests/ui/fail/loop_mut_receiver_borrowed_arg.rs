//! A `&mut self` call is fine to enqueue (the hook owns its clone of the receiver), but an
//! argument that borrows the loop variable is still a loop borrow.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

#[derive(Clone)]
struct Mailer {
    name: String,
    sent: u32,
}

impl Mailer {
    fn greet(&mut self, name: impl AsRef<str>) {
        self.sent += 1;
        let _ = name.as_ref();
    }
}

#[atomic]
fn greet_all(conn: &mut Conn<Memory>, mailers: Vec<Mailer>) -> Result<(), Error> {
    conn.execute("UPDATE mailers SET greeted = true");
    for mut mailer in mailers {
        mailer.sent = 0;
        enqueue!(mailer.greet(&mailer.name));
    }
    Ok(())
}

fn main() {}
