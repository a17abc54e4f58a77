//! Owned values made from borrows of the loop variable are not borrows: a `&String` cloned,
//! `&str` items collected into a `String`, a `PathBuf` that copies what it is given, a
//! variable assigned an owned value.
use std::path::PathBuf;

use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::Log;

struct User {
    email: String,
    dir: String,
}

#[atomic]
fn notify(conn: &mut Conn<Memory>, log: &Log, users: Vec<User>) -> Result<(), Error> {
    let mut last = String::new();
    for user in users {
        conn.execute(format!("UPDATE users SET notified = true WHERE email = '{}'", user.email));
        let email = &user.email;
        enqueue!(log.send(email.clone()));
        enqueue!(log.send(std::iter::once(user.email.as_str()).collect::<String>()));
        let mut path = PathBuf::from("/srv");
        path.push(&user.dir);
        enqueue!(log.send(path.display().to_string()));
        last = user.email.clone();
        enqueue!(log.send(last.clone()));
    }
    drop(last);
    Ok(())
}

fn main() {
    let log = Log::default();
    let mut conn = Conn::new(Memory::new());
    let users = vec![User { email: "a@x".into(), dir: "a".into() }];
    notify(&mut conn, &log, users).unwrap();
    assert_eq!(log.entries(), ["a@x", "a@x", "/srv/a", "a@x"]);
}
