//! Every loop form, done right (by value): `for`, `while let`, `while`, `loop`, `for_each`,
//! `map`, `if let` and `match` inside a loop. Each hook sees its own item.
use std::sync::{Arc, Mutex};

use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn push(&self, line: String) {
        self.0.lock().unwrap().push(line);
    }
}

enum Contact {
    Email(String),
    Phone(u32),
}

#[atomic]
fn all_kinds(conn: &mut Conn<Memory>, seen: &Seen, names: Vec<String>) -> Result<(), Error> {
    for name in names.clone() {
        enqueue!(seen.push(format!("for {name}")));
    }
    let mut stack = names.clone();
    while let Some(name) = stack.pop() {
        enqueue!(seen.push(format!("while-let {name}")));
    }
    let mut i = 0;
    while i < 2 {
        let label = format!("while {i}");
        enqueue!(seen.push(label));
        i += 1;
    }
    let mut left = 2;
    loop {
        if left == 0 {
            break;
        }
        left -= 1;
        enqueue!(seen.push(format!("loop {left}")));
    }
    names.iter().for_each(|name| {
        enqueue!(seen.push(format!("for_each {name}")));
    });
    let mapped = names
        .iter()
        .map(|name| {
            enqueue!(seen.push(name.to_uppercase()));
            name.len()
        })
        .sum::<usize>();
    let contacts = vec![Contact::Email("a@x".into()), Contact::Phone(42)];
    for contact in contacts {
        if let Contact::Email(email) = &contact {
            enqueue!(seen.push(email.clone()));
        }
        match contact {
            Contact::Email(email) => enqueue!(seen.push(email)),
            Contact::Phone(phone) => enqueue!(seen.push(phone.to_string())),
        }
    }
    conn.execute(format!("mapped {mapped}"));
    Ok(())
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let seen = Seen::default();
    all_kinds(&mut conn, &seen, vec!["ann".into(), "bob".into()]).unwrap();
    assert_eq!(
        *seen.0.lock().unwrap(),
        [
            "for ann",
            "for bob",
            "while-let bob",
            "while-let ann",
            "while 0",
            "while 1",
            "loop 1",
            "loop 0",
            "for_each ann",
            "for_each bob",
            "ANN",
            "BOB",
            "a@x",
            "a@x",
            "42",
        ]
    );
    assert_eq!(db.statements(), ["BEGIN", "mapped 6", "COMMIT"]);
}
