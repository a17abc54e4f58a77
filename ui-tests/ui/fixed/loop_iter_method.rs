//! `loop_iter_method`, fixed as its help says: pass `user.tags.clone()` and iterate inside
//! the hook (the called fn takes the owned tags and iterates them itself).
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct User {
    tags: Vec<String>,
}

fn index(tags: Vec<String>) {
    let _ = tags.iter().count();
}

#[atomic]
fn index_all(conn: &mut Conn<Memory>, users: Vec<User>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for user in users {
        enqueue!(index(user.tags.clone()));
    }
    Ok(())
}

fn main() {
    let mut conn = Conn::new(Memory::new());
    index_all(&mut conn, vec![User { tags: vec!["a".into()] }]).unwrap();
}
