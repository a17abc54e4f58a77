//! RabbitMQ for the suites that check what the broker received (`RABBITMQ_URL`): connections,
//! the durable queues and exchanges of one test, and reading a queue back with `basic.get`.

use lapin::options::{
    BasicGetOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use oncommit::outbox::sink::{Delivery, RabbitMq};

use crate::{service_unreachable, service_url};

/// A connection to `RABBITMQ_URL`; `None` (printed) when unset or unreachable outside CI.
pub async fn connect() -> Option<Connection> {
    let url = service_url("RABBITMQ_URL")?;
    match Connection::connect(&url, ConnectionProperties::default()).await {
        Ok(connection) => Some(connection),
        Err(error) => service_unreachable("RABBITMQ_URL", &error),
    }
}

/// A broker for one test: the sink's connection, and a reader on a connection of its own.
pub struct Broker {
    /// The sink's connection.
    pub publisher: Connection,
    /// The reader's connection.
    pub reader_connection: Connection,
    /// A channel of the reader's connection: declares, reads back, deletes.
    pub reader: Channel,
}

impl Broker {
    /// Both connections; `None` when RabbitMQ is not configured (outside CI).
    pub async fn connect() -> Option<Broker> {
        let publisher = connect().await?;
        let reader_connection = connect().await?;
        let reader = reader_connection
            .create_channel()
            .await
            .expect("a reader channel");
        Some(Broker {
            publisher,
            reader_connection,
            reader,
        })
    }

    /// A sink on a new channel of the publisher's connection.
    pub async fn sink(&self) -> RabbitMq {
        let channel = self
            .publisher
            .create_channel()
            .await
            .expect("a publisher channel");
        RabbitMq::new(channel).await.expect("confirm mode")
    }

    /// Declares the durable queue `name` with `arguments` (and `x-expires`, so that a failed
    /// run leaves nothing behind for long).
    pub async fn queue(&self, name: &str, mut arguments: FieldTable) {
        arguments.insert("x-expires".into(), AMQPValue::LongInt(600_000));
        let options = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        self.reader
            .queue_declare(name.into(), options, arguments)
            .await
            .expect("declare the queue");
    }

    /// Declares the durable direct exchange `name` (auto-deleted once its last queue is
    /// unbound, so that a failed run leaves nothing behind for long).
    pub async fn exchange(&self, name: &str) {
        let options = ExchangeDeclareOptions {
            durable: true,
            auto_delete: true,
            ..ExchangeDeclareOptions::default()
        };
        self.reader
            .exchange_declare(
                name.into(),
                ExchangeKind::Direct,
                options,
                FieldTable::default(),
            )
            .await
            .expect("declare the exchange");
    }

    /// Binds `queue` to `exchange` with `routing_key`.
    pub async fn bind(&self, queue: &str, exchange: &str, routing_key: &str) {
        self.reader
            .queue_bind(
                queue.into(),
                exchange.into(),
                routing_key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind the queue");
    }

    /// Every message `queue` holds, oldest first (taken off the queue).
    pub async fn take_all(&self, queue: &str) -> Vec<Message> {
        let mut messages = Vec::new();
        while let Some(got) = self
            .reader
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get")
        {
            messages.push(Message::from(&got.delivery));
        }
        messages
    }

    /// Deletes the queues and exchanges of a test.
    pub async fn delete(&self, queues: &[&str], exchanges: &[&str]) {
        for queue in queues {
            self.reader
                .queue_delete((*queue).into(), QueueDeleteOptions::default())
                .await
                .expect("delete the queue");
        }
        for exchange in exchanges {
            self.reader
                .exchange_delete((*exchange).into(), ExchangeDeleteOptions::default())
                .await
                .expect("delete the exchange");
        }
    }
}

/// A message as a queue holds it: what the sink set, and the payload's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `message_id`.
    pub id: Option<String>,
    /// `delivery_mode` (2: persistent).
    pub delivery_mode: Option<u8>,
    /// `content_type`.
    pub content_type: Option<String>,
    /// The `oncommit-key` header.
    pub key: Option<String>,
    /// The body.
    pub payload: Vec<u8>,
}

impl Message {
    /// What the sink publishes for `delivery`.
    pub fn of(delivery: &Delivery) -> Message {
        Message {
            id: Some(delivery.id.to_string()),
            delivery_mode: Some(2),
            content_type: Some("application/json".to_owned()),
            key: delivery.key.clone(),
            payload: delivery.payload.as_bytes().to_vec(),
        }
    }
}

impl From<&lapin::message::Delivery> for Message {
    fn from(delivery: &lapin::message::Delivery) -> Message {
        let properties = &delivery.properties;
        let text = |s: &Option<ShortString>| s.as_ref().map(|s| s.as_str().to_owned());
        let key = properties.headers().as_ref().and_then(|headers| {
            match headers.inner().get(RabbitMq::KEY_HEADER)? {
                AMQPValue::LongString(key) => {
                    Some(String::from_utf8(key.as_bytes().to_vec()).expect("a UTF-8 key"))
                }
                other => panic!("the key header is {other:?}, not a long string"),
            }
        });
        Message {
            id: text(properties.message_id()),
            delivery_mode: *properties.delivery_mode(),
            content_type: text(properties.content_type()),
            key,
            payload: delivery.data.clone(),
        }
    }
}
