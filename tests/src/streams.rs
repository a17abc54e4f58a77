//! Reading Redis Streams back, for the suites that check what the broker received.

use std::collections::HashMap;

/// A stream entry's `id` (the message id) and `payload` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The message id.
    pub id: String,
    /// The job's JSON.
    pub payload: String,
}

/// Every entry of `stream`, oldest first.
pub async fn entries(conn: &mut redis::aio::MultiplexedConnection, stream: &str) -> Vec<Entry> {
    let raw: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query_async(conn)
        .await
        .expect("XRANGE");
    raw.into_iter()
        .map(|(_, mut fields)| Entry {
            id: fields.remove("id").expect("an id field"),
            payload: fields.remove("payload").expect("a payload field"),
        })
        .collect()
}

/// Deletes `keys` (streams of an earlier run).
pub async fn delete(conn: &mut redis::aio::MultiplexedConnection, keys: &[String]) {
    if keys.is_empty() {
        return;
    }
    redis::cmd("DEL")
        .arg(keys)
        .query_async::<()>(conn)
        .await
        .expect("DEL");
}
