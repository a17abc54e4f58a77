//! `enqueue!(CALL)` outside an #[atomic] fn does not know the connection.
use oncommit::enqueue;

fn send(_id: u64) {}

fn save(id: u64) {
    enqueue!(send(id));
}

fn main() {
    save(1);
}
