//! axum's `#[debug_handler]` above `#[atomic]` runs first and copies the body into a check fn
//! without `#[atomic]`: the `enqueue!` there says to write `#[atomic]` above it.
use axum::debug_handler;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use oncommit::memory::Memory;
use oncommit::{Conn, atomic, enqueue};
use oncommit_ui_tests::Log;

struct Db(Conn<Memory>);

impl FromRequestParts<Log> for Db {
    type Rejection = StatusCode;

    async fn from_request_parts(_parts: &mut Parts, _log: &Log) -> Result<Self, Self::Rejection> {
        Ok(Db(Conn::new(Memory::new())))
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

#[debug_handler]
#[atomic(conn = db.0)]
async fn create(mut db: Db, State(log): State<Log>) -> Result<String, AppError> {
    db.0.execute("INSERT");
    enqueue!(log.send("welcome".to_owned()));
    Ok("created".to_owned())
}

fn main() {}
