//! A variable given a borrow of a loop variable by an assignment holds it (a variable has
//! one type: capturing it needs every borrow it is given to outlive the hook).
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct Account {
    email: String,
    backup: Option<String>,
}

fn send(to: impl AsRef<str>) {
    let _ = to.as_ref().len();
}

#[atomic]
fn notify(conn: &mut Conn<Memory>, accounts: Vec<Account>) -> Result<(), Error> {
    let mut to = "nobody";
    conn.execute(format!("UPDATE jobs SET queued_at = now(), by = '{to}'"));
    for account in accounts {
        to = &account.email;
        enqueue!(send(to));
        let mut fallback = "none";
        if let Some(backup) = &account.backup {
            fallback = backup.trim();
        }
        enqueue!(send(fallback));
    }
    Ok(())
}

fn main() {}
