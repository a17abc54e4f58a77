//! Async hooks with `.await?`: an error inside the hook is its failure (after COMMIT);
//! sync hooks with `?` likewise. Values before the failure still ran, later hooks still run.
use oncommit::memory::Memory;
use oncommit::{Conn, atomic, enqueue};
use oncommit_ui_tests::{AppError, Log, block_on};

#[atomic]
async fn jobs(conn: &mut Conn<Memory>, log: &Log, names: Vec<String>) -> Result<(), AppError> {
    for name in names {
        conn.execute(format!("INSERT {name}"));
        enqueue!(log.push(name).await?);
    }
    enqueue!(log.try_send("sync done".to_owned())?);
    enqueue!(log.push("fail robust".to_owned()).await?, robust);
    Ok(())
}

fn main() {
    let db = Memory::new();
    let mut conn = Conn::new(db.clone());
    let log = Log::new();
    block_on(jobs(&mut conn, &log, vec!["a".into(), "b".into()])).unwrap();
    assert_eq!(log.entries(), ["a", "b", "sync done"]);

    let err = block_on(jobs(&mut conn, &log, vec!["c".into(), "fail d".into(), "e".into()]))
        .unwrap_err();
    let AppError::Db(err) = err else { panic!("expected a hook failure, got {err:?}") };
    assert!(err.committed(), "the data was committed: {err}");
    assert!(err.to_string().contains("log.push(name).await?"), "{err}");
    assert_eq!(log.entries(), ["a", "b", "sync done", "c", "e", "sync done"]);
}
