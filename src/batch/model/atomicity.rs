//! [`Atomicity`]: the one transaction hook, for the executor and the tower service alike.

use core::future::Future;

use crate::batch::model::ResponseOp;

/// Makes changesets and atomicity groups transactional, for an application with a database:
/// the one hook, which [`execute_with`](crate::batch::execute_with),
/// [`execute_each`](crate::batch::execute_each) and the tower service
/// (`server::BatchLayer::atomicity`) all call.
///
/// [`begin`](Self::begin) runs before a group's first operation and returns the group's
/// [`Group`](Self::Group): a transaction handle, say. Every operation of the group is run with
/// it ([`Handler::call_in`](crate::batch::Handler::call_in); the tower service puts a clone in
/// each operation's request extensions, for the handlers to take with an extractor).
/// [`commit`](Self::commit) runs when every operation succeeded, and
/// [`rollback`](Self::rollback) when one failed. The default, [`NoAtomicity`], does nothing:
/// without a hook of the application's own, the operations of a group take effect one by one,
/// and a failure does not undo the earlier ones.
///
/// # Cancellation
///
/// A group is always resolved. When its run is dropped after `begin` returned and before
/// `commit` or `rollback` did (the client disconnected, a tower `Timeout` fired, the server
/// shut down, the caller dropped the executor's future), [`cancel`](Self::cancel) runs,
/// synchronously and at once, in the drop; then the group is dropped, and so is the operation
/// that was running (its future is never polled again). A panic in an operation run by the
/// tower service is the operation's `500` and rolls the group back through
/// [`rollback`](Self::rollback) like any failure.
///
/// `cancel` is synchronous because it runs in `Drop`, and the crate has no runtime to run a
/// future on: a rollback that needs one is handed to the application's own (`tokio::spawn`),
/// or the group is a value that rolls back when dropped, as sqlx's `Transaction` does, in
/// which case `cancel` need do nothing.
///
/// # Bounds
///
/// The hook's futures are `Send`, so that one hook serves both the executor and the tower
/// service, which runs batches on any thread (a trait cannot leave that to its user: a bound
/// on the future a method returns cannot be named on stable Rust). The tower service also
/// needs the hook `Clone + Send + Sync + 'static` and a group `Clone + Send + Sync + 'static`,
/// since it hands the group to operations in `http` extensions; the executor alone does not.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use batchpart::batch::{
///     execute_with, Atomicity, Changeset, ExecOptions, Handler, Item, RequestOp, ResponseOp,
/// };
/// use std::sync::{Arc, Mutex};
///
/// /// A journal of the group's writes, undone on rollback and on cancel.
/// #[derive(Clone, Default)]
/// struct Journal(Arc<Mutex<Vec<String>>>);
///
/// #[derive(Clone, Default)]
/// struct Db(Arc<Mutex<Vec<String>>>);
///
/// impl Atomicity for Db {
///     type Group = Journal;
///     async fn begin(&self, _group: Option<&str>) -> Journal {
///         Journal::default()
///     }
///     async fn commit(&self, _group: Option<&str>, _j: &Journal) -> Result<(), ResponseOp> {
///         Ok(())
///     }
///     async fn rollback(&self, _group: Option<&str>, j: &Journal) {
///         self.cancel(None, j)
///     }
///     fn cancel(&self, _group: Option<&str>, j: &Journal) {
///         let undo = j.0.lock().unwrap();
///         self.0.lock().unwrap().retain(|row| !undo.contains(row));
///     }
/// }
///
/// impl Handler<Journal> for Db {
///     async fn call(&mut self, op: RequestOp) -> ResponseOp {
///         if op.method == "POST" && op.url != "Fail" {
///             self.0.lock().unwrap().push(op.url.to_string());
///             return ResponseOp::new(201);
///         }
///         ResponseOp::new(400)
///     }
///     async fn call_in(&mut self, op: RequestOp, j: &Journal) -> ResponseOp {
///         j.0.lock().unwrap().push(op.url.to_string());
///         self.call(op).await
///     }
/// }
///
/// let db = Db::default();
/// let group = Changeset { id: None, ops: vec![
///     RequestOp::new("POST", "A").with_content_id("1"),
///     RequestOp::new("POST", "Fail").with_content_id("2"),
/// ]};
/// let items = batchpart::stream::iter(vec![Ok(Item::Changeset(group))]);
/// let answer = execute_with(items, &mut db.clone(), &db, ExecOptions::default()).await.unwrap();
/// assert_eq!(answer.items[0].ops()[0].status, 400);
/// assert!(db.0.lock().unwrap().is_empty()); // `A` was rolled back
/// # }
/// ```
pub trait Atomicity {
    /// What a group's operations share while it runs: a transaction handle, a journal.
    type Group;

    /// A group begins (its id: the changeset boundary or the JSON atomicity group).
    fn begin(&self, group: Option<&str>) -> impl Future<Output = Self::Group> + Send;

    /// Every operation of the group succeeded: make it durable, or answer why not (that
    /// answer stands for the whole group).
    fn commit(
        &self,
        group: Option<&str>,
        handle: &Self::Group,
    ) -> impl Future<Output = Result<(), ResponseOp>> + Send;

    /// An operation of the group failed: undo the others.
    fn rollback(
        &self,
        group: Option<&str>,
        handle: &Self::Group,
    ) -> impl Future<Output = ()> + Send;

    /// The group's run was dropped before it was resolved: undo what it did, now (see
    /// [Cancellation](Self#cancellation)). The default does nothing, for a group that rolls
    /// back when dropped.
    fn cancel(&self, _group: Option<&str>, _handle: &Self::Group) {}
}

/// No transactions: groups run their operations one by one (see [`Atomicity`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAtomicity;

impl Atomicity for NoAtomicity {
    type Group = ();
    fn begin(&self, _group: Option<&str>) -> impl Future<Output = ()> + Send {
        core::future::ready(())
    }
    fn commit(
        &self,
        _group: Option<&str>,
        _handle: &(),
    ) -> impl Future<Output = Result<(), ResponseOp>> + Send {
        core::future::ready(Ok(()))
    }
    fn rollback(&self, _group: Option<&str>, _handle: &()) -> impl Future<Output = ()> + Send {
        core::future::ready(())
    }
}

/// [`Atomicity::cancel`] for the open group, run on drop unless the group was resolved
/// first: the executor holds one while a group runs.
pub(crate) struct Open<'a, A: Atomicity> {
    pub(crate) hook: &'a A,
    pub(crate) id: Option<&'a str>,
    pub(crate) group: A::Group,
    pub(crate) resolved: bool,
}

impl<A: Atomicity> Drop for Open<'_, A> {
    fn drop(&mut self) {
        if !self.resolved {
            self.hook.cancel(self.id, &self.group);
        }
    }
}
