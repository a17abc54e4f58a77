//! Request-scoped transactions for axum (Django's `ATOMIC_REQUESTS`), feature `axum`.
//!
//! [`atomic_requests`] is a middleware: each request gets a transaction on a connection from
//! the pool, which the handler reaches through the [`Tx`] extractor. When the handler's
//! response is a success (1xx–3xx) the transaction commits and its hooks run; on an error
//! response (4xx, 5xx) or a panic it rolls back and the hooks are dropped.
//!
//! It is cancellation-safe: hyper drops a request's future when the client disconnects, which
//! would otherwise stop a handler between its COMMIT and its hooks (or leave the transaction
//! to a queued ROLLBACK at best). The middleware runs the handler, the COMMIT and the hooks
//! in a task of their own, which finishes whatever the client does.
//!
//! ```no_run
//! # async fn f(pool: sqlx::PgPool) {
//! use axum::{Router, routing::post};
//! use oncommit::axum::{Tx, atomic_requests};
//! use sqlx::Postgres;
//!
//! async fn sign_up(mut tx: Tx<Postgres>) -> Result<&'static str, axum::http::StatusCode> {
//!     sqlx::query("INSERT INTO users (email) VALUES ('ann@example.com')")
//!         .execute(tx.conn().executor())
//!         .await
//!         .map_err(|_| axum::http::StatusCode::CONFLICT)?; // 409: rolled back
//!     tx.conn()
//!         .on_commit(|| tracing::info!("welcome"))
//!         .map_err(|_| axum::http::StatusCode::INTERNAL_SERVER_ERROR)?;
//!     Ok("welcome") // 200: committed, then the hook runs
//! }
//!
//! let app: Router = Router::new()
//!     .route("/sign-up", post(sign_up))
//!     .layer(axum::middleware::from_fn_with_state(pool, atomic_requests::<Postgres>));
//! # }
//! ```

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sqlx::{Database, Pool, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::backend::{AsyncBackend, Backend};
use crate::{Adopted, Conn};

/// What the middleware shares with the request's [`Tx`].
type Shared<DB> = Arc<Mutex<Option<Adopted<Transaction<'static, DB>>>>>;

/// The middleware (use it with `axum::middleware::from_fn_with_state(pool,
/// atomic_requests::<Postgres>)`): BEGIN on a connection of `pool`, the handler, then COMMIT
/// and the hooks for a success response, ROLLBACK otherwise, all in a task of its own.
///
/// A failed BEGIN is a `503 Service Unavailable`; a failed COMMIT a `500 Internal Server
/// Error` (the handler's response is dropped: nothing it promised was committed); a hook that
/// fails after COMMIT is logged and the handler's response stands (the data is committed).
pub async fn atomic_requests<DB>(
    State(pool): State<Pool<DB>>,
    mut request: Request,
    next: Next,
) -> Response
where
    DB: Database,
    DB::Connection: Backend + AsyncBackend,
{
    let task = async move {
        let tx = match pool.begin().await {
            Ok(tx) => tx,
            Err(error) => {
                tracing::error!(%error, "BEGIN for the request failed");
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
        };
        let adopted = match Conn::adopt(tx).await {
            Ok(adopted) => adopted,
            Err(error) => {
                tracing::error!(%error, "adopting the request's transaction failed");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        };
        let shared: Shared<DB> = Arc::new(Mutex::new(Some(adopted)));
        request.extensions_mut().insert(shared.clone());
        let response = next.run(request).await;
        // The handler is done; a `Tx` it moved elsewhere is waited for.
        let Some(adopted) = shared.lock().await.take() else {
            tracing::error!("the request's transaction was taken");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let status = response.status();
        if status.is_client_error() || status.is_server_error() {
            if let Err(error) = adopted.rollback().await {
                tracing::error!(%error, %status, "rolling back the request's transaction failed");
            }
            return response;
        }
        match adopted.commit().await {
            Ok(()) => response,
            Err(error) if error.committed() => {
                tracing::error!(%error, "after-commit hooks of the request failed");
                response
            }
            Err(error) => {
                tracing::error!(%error, "COMMIT of the request's transaction failed");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    };
    match tokio::spawn(task).await {
        Ok(response) => response,
        // The handler panicked: the task unwound, dropping the transaction (rolled back,
        // its hooks dropped).
        Err(error) => {
            tracing::error!(%error, "the request's handler panicked; its transaction is rolled back");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The request's transaction, for a handler behind [`atomic_requests`]: derefs to the
/// adopted [`Conn`] (`tx.conn()` for a `&mut Conn<_>` to pass to `#[atomic]` fns).
pub struct Tx<DB: Database>(OwnedMutexGuard<Option<Adopted<Transaction<'static, DB>>>>);

impl<DB: Database> Tx<DB> {
    /// The request's `Conn`.
    pub fn conn(&mut self) -> &mut Conn<Transaction<'static, DB>> {
        self.0
            .as_mut()
            .expect("the transaction stays until the handler returns")
    }
}

impl<DB: Database> Deref for Tx<DB> {
    type Target = Conn<Transaction<'static, DB>>;

    fn deref(&self) -> &Self::Target {
        self.0
            .as_ref()
            .expect("the transaction stays until the handler returns")
    }
}

impl<DB: Database> DerefMut for Tx<DB> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.conn()
    }
}

impl<S, DB> FromRequestParts<S> for Tx<DB>
where
    S: Send + Sync,
    DB: Database,
{
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let shared = parts.extensions.get::<Shared<DB>>().cloned().ok_or((
            StatusCode::INTERNAL_SERVER_ERROR,
            "no request transaction: add the oncommit::axum::atomic_requests middleware",
        ))?;
        let guard = shared.lock_owned().await;
        if guard.is_none() {
            return Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                "the request's transaction has ended",
            ));
        }
        Ok(Tx(guard))
    }
}
