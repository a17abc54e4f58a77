//! The application side of the race: handlers written the way docs/design.md says users write
//! them, with `#[atomic]` and `enqueue!`.

use oncommit::{Conn, atomic, enqueue};

use super::{AppError, Job, Plan, Queue, RaceDb, Table};

/// One handler transaction of the load: insert a row, maybe bump another, enqueue a job for
/// each, and roll back when the plan says so (the jobs must then never reach the queue).
#[atomic]
pub async fn write_plan<C: RaceDb>(
    conn: &mut Conn<C>,
    queue: &Queue,
    table: &Table,
    plan: &Plan,
) -> Result<(), AppError> {
    table.insert(&mut **conn, plan.insert, 1).await?;
    enqueue!(queue.push(Job::new(plan.insert, 1)).await);
    if let Some((id, version)) = plan.update {
        table.update(&mut **conn, id, version).await?;
        enqueue!(queue.push(Job::new(id, version)).await);
    }
    if plan.reject {
        return Err(AppError::Rejected);
    }
    Ok(())
}

/// docs/design.md's `sign_up`: a loop of inserts, one job per row, each carrying its own values.
#[atomic]
pub async fn sign_up<C: RaceDb>(
    conn: &mut Conn<C>,
    queue: &Queue,
    table: &Table,
    users: Vec<Job>,
) -> Result<usize, AppError> {
    let mut count = 0;
    for user in users {
        table.insert(&mut **conn, user.id, user.version).await?;
        enqueue!(queue.push(user).await);
        count += 1;
    }
    Ok(count)
}

/// Inserts one row and enqueues its job, then reports how many jobs sit in the queue and how
/// many hooks wait on the connection *before* COMMIT.
#[atomic]
pub async fn insert_and_peek<C: RaceDb>(
    conn: &mut Conn<C>,
    queue: &Queue,
    table: &Table,
    job: Job,
) -> Result<(usize, usize), AppError> {
    table.insert(&mut **conn, job.id, job.version).await?;
    enqueue!(queue.push(job).await);
    let waiting = queue.waiting().await.map_err(AppError::Queue)?;
    Ok((waiting, conn.pending_hooks()))
}
