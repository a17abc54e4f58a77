//! Each hook records its call's source text and the location of its `enqueue!`
//! (seen through `oncommit::testing::capture`).
use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic, enqueue, testing};
use oncommit_ui_tests::Log;

fn record(log: Log, what: String) {
    log.send(what);
}

#[atomic]
fn save(conn: &mut Conn<Memory>, log: &Log, id: u64) -> Result<(), Error> {
    enqueue!(log.send(id.to_string()));
    enqueue!(record(log.clone(), format!("user {}", id + 1)), robust);
    Ok(())
}

fn main() {
    let mut conn = Conn::new(Memory::new());
    let log = Log::new();
    let (result, captured) = testing::capture(&mut conn, |conn| save(conn, &log, 7));
    result.unwrap();
    assert!(log.is_empty(), "captured hooks do not run");
    assert_eq!(
        captured.calls(),
        [Some("log.send(id.to_string())"), Some("record(log.clone(), format!(\"user {}\", id + 1))")]
    );
    let hooks = captured.hooks();
    assert!(hooks[0].site().file().ends_with("hook_site.rs"), "{}", hooks[0].site().file());
    assert_eq!(hooks[0].site().line(), 13);
    assert_eq!(hooks[1].site().line(), 14);
    assert_eq!(hooks[0].site().column(), 5);
    assert!(!hooks[0].is_robust() && hooks[1].is_robust());
    assert!(!hooks[0].is_async());
    captured.run().unwrap();
    assert_eq!(log.entries(), ["7", "user 8"]);

    // the explicit form records its site too (outside a transaction it would run at once)
    let (result, captured) = testing::capture(&mut conn, |conn| {
        enqueue!(conn => log.send(format!("explicit {}", 9)))
    });
    result.unwrap();
    assert_eq!(captured.calls(), [Some("log.send(format!(\"explicit {}\", 9))")]);
    assert_eq!(captured.hooks()[0].site().line(), 40);
    assert!(captured.hooks()[0].site().file().ends_with("hook_site.rs"));
}
