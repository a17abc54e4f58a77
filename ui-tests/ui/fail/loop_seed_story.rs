//! The seed story: a deferred welcome mail in a loop over users borrows the loop variable.
//! In Django/Rails this sends every mail to the last user; here it does not compile.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

#[derive(Clone)]
struct Mailer;

impl Mailer {
    async fn send_welcome(&self, email: impl AsRef<str>) {
        let _ = email.as_ref();
    }
}

struct NewUser {
    email: String,
}

#[atomic]
async fn sign_up(conn: &mut Conn<Memory>, mailer: &Mailer, users: Vec<NewUser>) -> Result<(), Error> {
    for user in users {
        conn.execute(format!("INSERT INTO users (email) VALUES ('{}')", user.email));
        enqueue!(mailer.send_welcome(&user.email).await);
    }
    Ok(())
}

fn main() {}
