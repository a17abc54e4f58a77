//! NATS JetStream for the suites that check what the broker received: connecting (skipping
//! when `NATS_URL` is unset, outside CI), streams of one test, and reading a stream back
//! message by message on a connection of its own.

use std::time::Duration;

use async_nats::jetstream::{self, Context, stream};

use crate::{service_unreachable, service_url};

/// A message as the stream stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Its subject.
    pub subject: String,
    /// Its `Nats-Msg-Id` header (`None` if it has none).
    pub id: Option<String>,
    /// Its payload, byte for byte.
    pub payload: Vec<u8>,
    /// Its ordering key header (`None` if it has none).
    pub key: Option<String>,
}

/// A JetStream context on a connection of its own to `NATS_URL`; `None` (printed) when unset
/// or unreachable outside CI.
pub async fn connect() -> Option<Context> {
    let url = service_url("NATS_URL")?;
    connect_to(&url).await
}

/// A JetStream context on a connection of its own to `url`.
pub async fn connect_to(url: &str) -> Option<Context> {
    let options = async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(5));
    match options.connect(url).await {
        Ok(client) => Some(jetstream::new(client)),
        Err(error) => service_unreachable("NATS_URL", &error),
    }
}

/// A stream and subject prefix of one test: the stream `<name>` (a file stream, with a
/// ten-minute duplicate window and messages kept an hour, in case a failed test leaves it)
/// covers every subject under `<name>.`.
#[derive(Debug, Clone)]
pub struct TestStream {
    /// The stream's name.
    pub name: String,
    /// The subject prefix it covers (`<name>.`).
    pub prefix: String,
}

impl TestStream {
    /// A name of this run (`prefix`, the process id, a counter), not yet created.
    pub fn named(prefix: &str) -> TestStream {
        let name = crate::unique_name(prefix);
        TestStream {
            prefix: format!("{name}."),
            name,
        }
    }

    /// Creates the stream on `context` (or finds it).
    pub async fn create(&self, context: &Context) {
        context
            .get_or_create_stream(stream::Config {
                name: self.name.clone(),
                subjects: vec![format!("{}>", self.prefix)],
                duplicate_window: Duration::from_secs(10 * 60),
                max_age: Duration::from_secs(60 * 60),
                ..Default::default()
            })
            .await
            .expect("create the stream");
    }

    /// A subject of the stream.
    pub fn subject(&self, topic: &str) -> String {
        format!("{}{topic}", self.prefix)
    }

    /// Every message the stream holds, oldest first.
    pub async fn messages(&self, context: &Context) -> Vec<Stored> {
        messages(context, &self.name).await
    }

    /// Deletes the stream.
    pub async fn delete(&self, context: &Context) {
        context
            .delete_stream(&self.name)
            .await
            .expect("delete the stream");
    }
}

/// Every message the stream `name` holds, oldest first, each read by its sequence.
pub async fn messages(context: &Context, name: &str) -> Vec<Stored> {
    let stream = context.get_stream(name).await.expect("the stream");
    let state = stream.cached_info().state.clone();
    let mut stored = Vec::new();
    if state.messages == 0 {
        return stored;
    }
    for sequence in state.first_sequence..=state.last_sequence {
        let message = stream
            .get_raw_message(sequence)
            .await
            .expect("a message of the stream");
        stored.push(Stored {
            subject: message.subject.to_string(),
            id: message
                .headers
                .get(async_nats::header::NATS_MESSAGE_ID)
                .map(|id| id.as_str().to_owned()),
            payload: message.payload.to_vec(),
            key: message
                .headers
                .get(oncommit::outbox::sink::NATS_KEY_HEADER)
                .map(|key| key.as_str().to_owned()),
        });
    }
    assert_eq!(
        stored.len() as u64,
        state.messages,
        "the stream's count and its messages"
    );
    stored
}
