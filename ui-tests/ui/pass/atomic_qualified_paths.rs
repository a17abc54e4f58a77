//! Fully qualified `#[oncommit::atomic]` and `oncommit::enqueue!` without imports, and a
//! `Conn` parameter spelled with a path prefix.
struct Mailer(oncommit_ui_tests::Log);

impl Clone for Mailer {
    fn clone(&self) -> Self {
        Mailer(self.0.clone())
    }
}

impl Mailer {
    fn send(&self, id: u64) {
        self.0.send(format!("mail {id}"));
    }
}

#[oncommit::atomic]
fn save(
    conn: &mut oncommit::Conn<oncommit::memory::Memory>,
    mailer: &Mailer,
) -> Result<(), oncommit::Error> {
    oncommit::enqueue!(mailer.send(1));
    ::oncommit::enqueue!(mailer.send(2), robust);
    Ok(())
}

fn main() {
    let mut conn = oncommit::Conn::new(oncommit::memory::Memory::new());
    let log = oncommit_ui_tests::Log::new();
    save(&mut conn, &Mailer(log.clone())).unwrap();
    assert_eq!(log.entries(), ["mail 1", "mail 2"]);
}
