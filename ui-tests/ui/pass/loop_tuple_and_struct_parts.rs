//! A binding taken from one part of a tuple or struct value holds only that part: a copy
//! taken next to a borrow is no borrow (`..` patterns, struct patterns, branches that build
//! tuples, a literal index, a field of a struct literal).
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};
use oncommit_ui_tests::Log;

struct User {
    id: u64,
    admin: bool,
    email: String,
    name: String,
}

struct Job<'a> {
    id: u64,
    to: &'a str,
}

#[atomic]
fn notify(conn: &mut Conn<Memory>, log: &Log, users: Vec<User>) -> Result<(), Error> {
    for user in users {
        conn.execute(format!("UPDATE users SET notified = true WHERE id = {}", user.id));
        let (id, ..) = (user.id, &user.email, 3);
        enqueue!(log.send(format!("rest {id}")));
        let (.., last) = (&user.name, user.id + 1);
        enqueue!(log.send(format!("rest {last}")));
        let job = Job { id: user.id, to: &user.email };
        let Job { id: job_id, .. } = job;
        enqueue!(log.send(format!("struct {job_id} {}", job.to.len())));
        let Job { id: other, to: _ } = Job { id: user.id * 2, to: &user.name };
        enqueue!(log.send(format!("struct {other}")));
        let (n, _who) = if user.admin { (user.id, &user.email) } else { (0, &user.name) };
        enqueue!(log.send(format!("branch {n}")));
        let (m, _) = match user.id {
            1 => (10, &user.email),
            _ => (user.id, &user.name),
        };
        enqueue!(log.send(format!("match {m}")));
        let ids = [user.id, 7];
        let refs = [&user.email, &user.name];
        enqueue!(log.send(format!("index {} {}", ids[0], refs.len())));
        let job = Job { id: user.id + 100, to: &user.name };
        enqueue!(log.send(format!("field {}", job.id)));
    }
    Ok(())
}

fn main() {
    let log = Log::default();
    let mut conn = Conn::new(Memory::new());
    let user = |id, admin| User { id, admin, email: format!("{id}@x"), name: format!("n{id}") };
    notify(&mut conn, &log, vec![user(1, true), user(2, false)]).unwrap();
    assert_eq!(
        log.entries(),
        [
            "rest 1", "rest 2", "struct 1 3", "struct 2", "branch 1", "match 10", "index 1 2",
            "field 101", "rest 2", "rest 3", "struct 2 3", "struct 4", "branch 0", "match 2",
            "index 2 2", "field 102",
        ]
    );
}
