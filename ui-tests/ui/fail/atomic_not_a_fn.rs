//! #[atomic] on something that is not a fn with a body.
use oncommit::atomic;

#[atomic]
struct Repo;

trait Save {
    #[atomic]
    fn save(&mut self) -> Result<(), oncommit::Error>;
}

fn main() {}
