//! `for member in &team.members`: the items borrow the outer loop's variable `team`.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct Team {
    members: Vec<String>,
}

fn notify(member: impl AsRef<str>) {
    let _ = member.as_ref().len();
}

#[atomic]
fn notify_all(conn: &mut Conn<Memory>, teams: Vec<Team>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for team in teams {
        for member in &team.members {
            enqueue!(notify(member));
        }
    }
    Ok(())
}

fn main() {}
