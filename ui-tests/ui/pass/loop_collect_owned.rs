//! Items borrowed from the loop variable, collected into an owned value, are no borrow:
//! `collect::<String>()` of `&str`s, a `collect()` whose type the call gives, and a closure
//! that returns owned values.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::Log;

struct User {
    name: String,
    tags: Vec<String>,
}

#[atomic]
fn notify(conn: &mut Conn<Memory>, log: &Log, users: Vec<User>) -> Result<(), Error> {
    for user in users {
        conn.execute(format!("UPDATE users SET notified = true WHERE name = '{}'", user.name));
        enqueue!(log.send(user.name.split(' ').collect::<String>()));
        enqueue!(log.send(user.tags.iter().map(|t| t.as_str()).collect::<String>()));
        enqueue!(log.send(user.name.split(' ').rev().collect()));
        let lengths = user.tags.iter().map(|t| t.len()).collect::<Vec<_>>();
        enqueue!(log.send(format!("{lengths:?}")));
        enqueue!(log.send(user.tags.first().map(|t| t.to_uppercase()).unwrap_or_default()));
    }
    Ok(())
}

fn main() {
    let log = Log::default();
    let mut conn = Conn::new(Memory::new());
    let users = vec![User { name: "a b".into(), tags: vec!["x".into(), "yz".into()] }];
    notify(&mut conn, &log, users).unwrap();
    assert_eq!(log.entries(), ["ab", "xyz", "ba", "[1, 2]", "X"]);
}
