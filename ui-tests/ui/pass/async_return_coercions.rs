//! The return type's coercions hold in an async `#[atomic]` fn as in a plain one: a boxed
//! value to a trait object (in the tail and in an early `return`), `&String` to `&str`, and
//! `?` on the same error type.
use std::fmt::Debug;

use oncommit::memory::Memory;
use oncommit::{Conn, Error, atomic};

#[atomic]
async fn boxed(conn: &mut Conn<Memory>, early: bool) -> Result<Box<dyn Debug + Send>, Error> {
    conn.execute("SELECT 1");
    if early {
        return Ok(Box::new("early"));
    }
    Ok(Box::new(1u8))
}

#[atomic]
async fn name<'a>(conn: &mut Conn<Memory>, owned: &'a String) -> Result<&'a str, Error> {
    conn.execute("SELECT name");
    Ok(owned)
}

struct Service {
    db: Conn<Memory>,
}

impl Service {
    #[atomic(conn = self.db)]
    async fn field(&mut self) -> Result<Box<dyn Debug + Send>, Error> {
        self.db.execute("SELECT 2");
        Ok(Box::new(2u16))
    }

    #[atomic(conn = self.db, retry = 1)]
    async fn retried(&mut self) -> Result<Box<dyn Debug + Send>, Error> {
        Ok(Box::new(3u32))
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut conn = Conn::new(Memory::new());
    let value = runtime.block_on(boxed(&mut conn, false)).unwrap();
    assert_eq!(format!("{value:?}"), "1");
    let value = runtime.block_on(boxed(&mut conn, true)).unwrap();
    assert_eq!(format!("{value:?}"), "\"early\"");
    let owned = String::from("ann");
    assert_eq!(runtime.block_on(name(&mut conn, &owned)).unwrap(), "ann");
    let mut service = Service { db: conn };
    assert_eq!(format!("{:?}", runtime.block_on(service.field()).unwrap()), "2");
    assert_eq!(format!("{:?}", runtime.block_on(service.retried()).unwrap()), "3");
}
