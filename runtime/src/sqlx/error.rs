//! `oncommit::Error` inside sqlx's error type: it implements `sqlx::error::DatabaseError`,
//! so sqlx's own `From` makes `?` turn it into `sqlx::Error::Database` and a fn returning
//! `Result<T, sqlx::Error>` can be `#[atomic]`. The SQLSTATE code and kind are those of the
//! database error underneath, if any (a serialization failure at COMMIT keeps its `40001`);
//! the message is oncommit's, with its context; `try_downcast_ref::<oncommit::Error>()`
//! gives the original back.

use std::borrow::Cow;

use sqlx::error::{DatabaseError, ErrorKind};

use crate::Error;

impl Error {
    /// The database error underneath, if a statement's failure is what this error is about.
    fn database_error(&self) -> Option<&dyn DatabaseError> {
        let mut source = std::error::Error::source(self);
        while let Some(error) = source {
            if let Some(sqlx::Error::Database(database)) = error.downcast_ref::<sqlx::Error>() {
                return Some(&**database);
            }
            source = error.source();
        }
        None
    }
}

impl DatabaseError for Error {
    fn message(&self) -> &str {
        Error::message(self)
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        self.database_error().and_then(|error| error.code())
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        self.database_error()
            .map_or(ErrorKind::Other, |error| error.kind())
    }

    fn constraint(&self) -> Option<&str> {
        self.database_error().and_then(|error| error.constraint())
    }

    fn table(&self) -> Option<&str> {
        self.database_error().and_then(|error| error.table())
    }
}

#[cfg(test)]
mod tests {
    use crate::{Error, Step};

    #[test]
    fn question_mark_turns_it_into_a_sqlx_database_error() {
        fn fails() -> Result<(), sqlx::Error> {
            Err(Error::statement(
                Step::Commit,
                1,
                "the server went away".into(),
            ))?
        }
        let error = fails().unwrap_err();
        let sqlx::Error::Database(database) = &error else {
            panic!("expected sqlx::Error::Database, got {error:?}")
        };
        assert_eq!(database.message(), "COMMIT failed at transaction depth 1");
        assert_eq!(database.code(), None);
        let original = database
            .try_downcast_ref::<Error>()
            .expect("oncommit's error");
        assert_eq!(original.step(), Some(Step::Commit));
    }
}
