//! Outside #[atomic], a durable job names its connection.
use oncommit::enqueue;
use oncommit::outbox::Job;

#[derive(serde::Serialize)]
struct Welcome {
    user_id: u64,
}

impl Job for Welcome {
    const TOPIC: &'static str = "welcome";
}

fn sign_up(user_id: u64) {
    let _ = enqueue!(outbox => Welcome { user_id });
}

fn main() {}
