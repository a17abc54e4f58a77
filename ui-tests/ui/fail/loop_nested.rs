//! Nested loops: the error names the variable that is borrowed, `team`, not `member`.
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue};

struct Team {
    name: String,
    members: Vec<u64>,
}

fn notify(member: u64, team: impl AsRef<str>) {
    let _ = (member, team.as_ref());
}

#[atomic]
fn notify_all(conn: &mut Conn<Memory>, teams: Vec<Team>) -> Result<(), Error> {
    conn.execute("UPDATE jobs SET queued_at = now()");
    for team in teams {
        for member in team.members.iter().copied() {
            enqueue!(notify(member, &team.name));
        }
    }
    Ok(())
}

fn main() {}
