//! A TCP proxy between a test's connection and a server (a database, or a broker the relay
//! publishes to), for fault injection that does not depend on timing: hold the server's
//! answers (the statement is applied, its answer does not arrive), then drop the client's
//! future or cut the connection.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

/// A proxy on 127.0.0.1 forwarding every connection to one server.
#[derive(Clone)]
pub struct Proxy {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes pumps when holding stops, and waiters when bytes are held.
    changed: Notify,
}

#[derive(Default)]
struct State {
    /// Start holding once the client sends these bytes.
    trigger: Option<Vec<u8>>,
    holding: bool,
    held: usize,
    /// The server is down: connections are cut, new ones closed at once.
    down: bool,
    tasks: Vec<AbortHandle>,
}

impl Proxy {
    /// Starts a proxy to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared::default());
        let upstream = upstream.to_owned();
        let accept_shared = shared.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if accept_shared.state.lock().unwrap().down {
                    drop(client);
                    continue;
                }
                let server = TcpStream::connect(&upstream)
                    .await
                    .expect("the proxy connects to the server");
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                let up = tokio::spawn(pump(
                    client_read,
                    server_write,
                    Side::Up(accept_shared.clone()),
                ));
                let down = tokio::spawn(pump(
                    server_read,
                    client_write,
                    Side::Down(accept_shared.clone()),
                ));
                let mut state = accept_shared.state.lock().unwrap();
                state.tasks.push(up.abort_handle());
                state.tasks.push(down.abort_handle());
            }
        });
        Proxy { addr, shared }
    }

    /// A proxy to the server of `url`, and `url` rewritten to go through it.
    pub async fn for_url(url: &str) -> (Proxy, String) {
        let rest = url.split_once("://").expect("a URL with a scheme").1;
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        let host = host.split(['/', '?']).next().unwrap_or(host);
        let proxy = Proxy::start(host).await;
        let proxied = proxy.url(url);
        (proxy, proxied)
    }

    /// `url` with its `host:port` replaced by the proxy's.
    pub fn url(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
        let (auth, host_and_path) = match rest.rsplit_once('@') {
            Some((auth, host)) => (format!("{auth}@"), host),
            None => (String::new(), rest),
        };
        let path = host_and_path
            .find(['/', '?'])
            .map_or("", |at| &host_and_path[at..]);
        format!("{scheme}://{auth}{}{path}", self.addr)
    }

    /// From now on, the server's answers are held back (the statements still reach it).
    pub fn hold(&self) {
        let mut state = self.shared.state.lock().unwrap();
        state.holding = true;
        state.held = 0;
    }

    /// Holds the server's answers from the moment the client sends `bytes` (a statement's
    /// text: `b"COMMIT"`), which still reach the server.
    pub fn hold_when_sent(&self, bytes: &[u8]) {
        self.shared.state.lock().unwrap().trigger = Some(bytes.to_vec());
    }

    /// Waits until the server answered something that is being held: the statement sent
    /// since [`hold`](Proxy::hold) was applied.
    pub async fn wait_held(&self) {
        loop {
            let notified = self.shared.changed.notified();
            if self.shared.state.lock().unwrap().held > 0 {
                return;
            }
            notified.await;
        }
    }

    /// Forwards what was held, and stops holding.
    pub fn release(&self) {
        self.shared.state.lock().unwrap().holding = false;
        self.shared.changed.notify_waiters();
    }

    /// Closes every proxied connection at once, dropping what was held: to the client the
    /// connection dies.
    pub fn cut(&self) {
        let mut state = self.shared.state.lock().unwrap();
        for task in state.tasks.drain(..) {
            task.abort();
        }
        state.holding = false;
    }

    /// The server goes down (every connection cut, new ones closed at once) or comes back.
    pub fn set_down(&self, down: bool) {
        self.shared.state.lock().unwrap().down = down;
        if down {
            self.cut();
        }
    }
}

/// Which way a pump copies.
enum Side {
    /// Client to server: watches for the hold trigger.
    Up(Arc<Shared>),
    /// Server to client: holds while the proxy holds.
    Down(Arc<Shared>),
}

/// Copies `from` to `to`.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    side: Side,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if let Side::Up(shared) = &side {
            let mut state = shared.state.lock().unwrap();
            let sent = &buffer[..n];
            if let Some(trigger) = &state.trigger
                && sent.windows(trigger.len()).any(|w| w == trigger.as_slice())
            {
                state.trigger = None;
                state.holding = true;
                state.held = 0;
            }
        }
        if let Side::Down(shared) = &side {
            let mut counted = false;
            loop {
                // Created before the state is read: a release in between still wakes it.
                let released = shared.changed.notified();
                {
                    let mut state = shared.state.lock().unwrap();
                    if !state.holding {
                        break;
                    }
                    if !counted {
                        state.held += n;
                    }
                }
                if !counted {
                    counted = true;
                    shared.changed.notify_waiters();
                }
                released.await;
            }
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
