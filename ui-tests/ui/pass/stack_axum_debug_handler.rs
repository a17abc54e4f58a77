//! An axum handler that is one transaction, checked by axum's `#[debug_handler]`. `#[atomic]`
//! goes above it: `#[debug_handler]` copies the body into check fns of its own, which would
//! not have `#[atomic]` if it ran first. The connection comes from an extractor, named with
//! `conn = db.0`.
use axum::debug_handler;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use oncommit::memory::Memory;
use oncommit::{Conn, atomic, enqueue};
use oncommit_ui_tests::{Log, block_on};

#[derive(Clone)]
struct App {
    db: Memory,
    log: Log,
}

/// The request's connection.
struct Db(Conn<Memory>);

impl FromRequestParts<App> for Db {
    type Rejection = StatusCode;

    async fn from_request_parts(_parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        Ok(Db(Conn::new(app.db.clone())))
    }
}

struct AppError(oncommit::Error);

impl From<oncommit::Error> for AppError {
    fn from(e: oncommit::Error) -> Self {
        AppError(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.0.to_string()).into_response()
    }
}

#[atomic(conn = db.0)]
#[debug_handler]
async fn create(mut db: Db, State(app): State<App>, Path(id): Path<u64>) -> Result<String, AppError> {
    db.0.execute(format!("INSERT {id}"));
    enqueue!(app.log.push(format!("welcome {id}")).await?);
    Ok(format!("created {id}"))
}

#[atomic(conn = db.0)]
#[tracing::instrument(skip_all)]
#[debug_handler]
async fn remove(mut db: Db, State(app): State<App>, Path(id): Path<u64>) -> Result<String, AppError> {
    db.0.execute(format!("DELETE {id}"));
    enqueue!(app.log.send(format!("removed {id}")));
    Ok(format!("removed {id}"))
}

fn main() {
    let app = App {
        db: Memory::new(),
        log: Log::new(),
    };
    let _router: axum::Router = axum::Router::new()
        .route("/users/{id}", axum::routing::post(create).delete(remove))
        .with_state(app.clone());
    let db = || Db(Conn::new(app.db.clone()));
    let created = block_on(create(db(), State(app.clone()), Path(7)));
    assert_eq!(created.ok().as_deref(), Some("created 7"));
    let removed = block_on(remove(db(), State(app.clone()), Path(7)));
    assert_eq!(removed.ok().as_deref(), Some("removed 7"));
    assert_eq!(app.log.entries(), ["welcome 7", "removed 7"]);
    assert_eq!(
        app.db.statements(),
        ["BEGIN", "INSERT 7", "COMMIT", "BEGIN", "DELETE 7", "COMMIT"]
    );
}
