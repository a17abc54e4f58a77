//! A chain of borrowing methods (`trim().trim_end_matches(..)`), directly and through a
//! binding of the `&str` it gives: the help copies the whole chain.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct Account {
    email: String,
    name: String,
}

fn send(to: impl AsRef<str>) {
    let _ = to.as_ref().len();
}

#[atomic]
fn notify(conn: &mut Conn<Memory>, accounts: Vec<Account>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for account in accounts {
        enqueue!(send(account.email.trim().trim_end_matches(".com")));
        let name = account.name.trim();
        enqueue!(send(name.trim()));
        enqueue!(send(name));
    }
    Ok(())
}

fn main() {}
