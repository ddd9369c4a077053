//! Running a batch with OData semantics, over a handler the server supplies. Plain async on
//! `futures-core`: no runtime dependency.
//!
//! - By default the whole batch is read and validated first (within the readers'
//!   [`ReadLimits`](crate::batch::ReadLimits)), and only then run: a malformed part late in
//!   the body is a whole-batch error before anything has had an effect.
//! - [`ExecOptions::streaming`] runs each operation as soon as the reader produces it. A read
//!   error after an operation has run is never a whole-batch error: the operations already run
//!   keep their responses, and the rest of the batch is answered by one last response, `400`
//!   with no Content-ID (a last `application/http` part in multipart, a last element without
//!   `id` in JSON). Before any operation has run it is still the whole batch's error.
//! - Operations run in order.
//! - Without continue-on-error, processing stops after the first failure (status 400 or
//!   above), whose response is the last.
//! - A changeset runs between [`Atomicity::begin`] and [`Atomicity::commit`] (with
//!   [`execute_with`]); when one of its operations fails, [`Atomicity::rollback`] runs and the
//!   whole changeset is answered by that failure's response alone. Dropped while a changeset
//!   is open, the run cancels it ([`Atomicity::cancel`]).
//! - References are resolved before each call: a URL whose first segment is `$<content-id>`
//!   takes the `Location` of that operation's response, and `If-Match: $<content-id>` its
//!   `ETag`. [`RefScope`] says which earlier operations may be referenced.
//! - A request whose `dependsOn` names a failed request or group gets `424 Failed Dependency`
//!   without reaching the handler.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::collections::{HashMap, HashSet, VecDeque};

use futures_core::Stream;

use crate::batch::error::BatchError;
use crate::batch::model::atomicity::{Atomicity, NoAtomicity, Open};
use crate::batch::model::prefer::Preferences;
use crate::batch::model::{
    normalize_content_id, reference, BatchResponse, Changeset, Item, RequestOp, ResponseOp, Text,
};

/// What a batch's operations are run by: the application's side of the executor.
///
/// `G` is the group handle of the [`Atomicity`] hook the batch runs with (`()` without one):
/// the operations of a changeset are run through [`call_in`](Self::call_in) with it, every
/// other through [`call`](Self::call).
pub trait Handler<G = ()> {
    /// Runs one operation.
    fn call(&mut self, op: RequestOp) -> impl Future<Output = ResponseOp>;

    /// Runs one operation of a changeset, with the group's handle from
    /// [`Atomicity::begin`]. The default runs it as [`call`](Self::call) does.
    fn call_in(&mut self, op: RequestOp, group: &G) -> impl Future<Output = ResponseOp> {
        let _ = group;
        self.call(op)
    }

    /// A second handle that runs an operation while this one runs others, for
    /// [`ExecOptions::concurrency`]. `None`, the default, runs operations one at a time.
    fn fork(&self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }
}

/// A [`Handler`] from an async function.
#[derive(Debug, Clone)]
pub struct HandlerFn<F>(pub F);

/// Wraps an async function from a request to a response.
pub fn handler_fn<F, Fut>(f: F) -> HandlerFn<F>
where
    F: FnMut(RequestOp) -> Fut,
    Fut: Future<Output = ResponseOp>,
{
    HandlerFn(f)
}

impl<G, F, Fut> Handler<G> for HandlerFn<F>
where
    F: FnMut(RequestOp) -> Fut,
    Fut: Future<Output = ResponseOp>,
{
    fn call(&mut self, op: RequestOp) -> impl Future<Output = ResponseOp> {
        (self.0)(op)
    }
}

/// Which earlier operations a `$<content-id>` reference may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefScope {
    /// Only earlier operations of the same changeset: what OData requires of every service.
    #[default]
    WithinChangeset,
    /// Any earlier successful operation of the batch (`ReferencesAcrossChangeSetsSupported`;
    /// Olingo 2 also resolves `$1` in requests outside changesets).
    Anywhere,
}

/// How the executor runs a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ExecOptions {
    /// Go on after a failed operation (`Prefer: continue-on-error`).
    pub continue_on_error: bool,
    /// Which operations references may name.
    pub refs: RefScope,
    /// Run each operation as it is read instead of reading and validating the whole batch
    /// first. A read error after an operation has run is then never a whole-batch error: the
    /// operations already run keep their responses, and the rest of the batch is answered by
    /// one last `400` response without a Content-ID (see [`execute`]). Off by default.
    pub streaming: bool,
    /// How many operations may run at once. `0` and `1` (the default) run them in order.
    /// Above `1`, and only with `continue_on_error` (without it, nothing may run after a
    /// failure), consecutive top-level operations that depend on nothing run together, up to
    /// this many, through [`Handler::fork`]: no `dependsOn`, no `$<content-id>` in the URL or
    /// in `If-Match`. Changesets and dependent operations wait for those before them. Answers
    /// keep the request order.
    pub concurrency: usize,
}

setters!(ExecOptions {
    with_continue_on_error => continue_on_error: bool,
    with_refs => refs: RefScope,
    with_streaming => streaming: bool,
    with_concurrency => concurrency: usize,
});

impl ExecOptions {
    /// Options from the batch request's preferences (stop on error unless asked otherwise).
    pub fn from_preferences(p: &Preferences) -> Self {
        ExecOptions {
            continue_on_error: p.continues(),
            ..Default::default()
        }
    }
}

/// What a successful operation left for references to use.
#[derive(Debug, Clone)]
struct Outcome {
    location: Option<Text>,
    etag: Option<Vec<u8>>,
}

struct Next<'a, S>(&'a mut S);

impl<S: Stream + Unpin> Future for Next<'_, S> {
    type Output = Option<S::Item>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut *self.0).poll_next(cx)
    }
}

/// An error response the executor answers by itself: an OData error object with feature
/// `json`, the message as text without it.
pub(crate) fn error_response(status: u16, id: Option<Text>, message: &str) -> ResponseOp {
    #[cfg(feature = "json")]
    let (ct, body) = (
        "application/json",
        serde_json::json!({"error": {"code": status.to_string(), "message": message}}).to_string(),
    );
    #[cfg(not(feature = "json"))]
    let (ct, body) = ("text/plain; charset=utf-8", message.to_string());
    let mut resp = ResponseOp::new(status)
        .with_header("Content-Type", ct)
        .with_body(body);
    resp.content_id = id;
    resp
}

struct Run<'s, Svc> {
    svc: &'s mut Svc,
    opts: ExecOptions,
    /// Successful operations by Content-ID, visible batch-wide (`RefScope::Anywhere`).
    done: HashMap<Text, Outcome>,
    /// Every Content-ID seen so far, to tell an out-of-scope reference from a resource name.
    seen: HashSet<Text>,
    /// Failed request ids and atomicity groups, for `dependsOn`.
    failed: HashSet<Text>,
}

impl<Svc> Run<'_, Svc> {
    /// Resolves references against `local` (this changeset's results) and the batch's.
    fn resolve(&self, op: &mut RequestOp, local: &HashMap<Text, Outcome>) -> Result<(), String> {
        let lookup = |id: &str| -> Result<Option<&Outcome>, String> {
            if let Some(o) = local.get(id) {
                return Ok(Some(o));
            }
            if let Some(o) = self.done.get(id) {
                return match self.opts.refs {
                    RefScope::Anywhere => Ok(Some(o)),
                    RefScope::WithinChangeset => Err(format!("${id} refers outside its changeset")),
                };
            }
            if self.seen.contains(id) {
                return Err(format!(
                    "${id} refers to an operation that failed or is out of scope"
                ));
            }
            Ok(None)
        };
        if let Some((id, rest)) = reference(&op.url) {
            if let Some(o) = lookup(id)? {
                let loc = o
                    .location
                    .clone()
                    .ok_or_else(|| format!("${id} has no Location to refer to"))?;
                op.url = format!("{loc}{rest}").into();
            }
        }
        let if_match = op
            .headers
            .get_str("if-match")
            .and_then(|v| reference(v.trim()))
            .map(|(id, _)| id.to_string());
        if let Some(id) = if_match {
            if let Some(o) = lookup(&id)? {
                let etag = o
                    .etag
                    .clone()
                    .ok_or_else(|| format!("${id} has no ETag to refer to"))?;
                op.headers.set("If-Match", etag);
            }
        }
        Ok(())
    }

    /// Runs one operation, in a group when `group` is its handle.
    async fn run_op<G>(
        &mut self,
        mut op: RequestOp,
        local: &HashMap<Text, Outcome>,
        group: Option<&G>,
    ) -> ResponseOp
    where
        Svc: Handler<G>,
    {
        let (id, at) = (op.content_id.clone(), op.content_id_in);
        // The answer carries the request's Content-ID as sent, where the request carried it.
        let answer = |mut resp: ResponseOp| {
            resp.content_id_in = at;
            resp
        };
        if let Some(d) = op
            .depends_on
            .iter()
            .find(|d| self.failed.contains(d.as_str()))
        {
            return answer(error_response(424, id, &format!("dependency {d} failed")));
        }
        if let Err(msg) = self.resolve(&mut op, local) {
            return answer(error_response(400, id, &msg));
        }
        let mut resp = match group {
            Some(g) => self.svc.call_in(op, g).await,
            None => self.svc.call(op).await,
        };
        resp.content_id = id;
        answer(resp)
    }

    fn record(&mut self, resp: &ResponseOp, into_local: Option<&mut HashMap<Text, Outcome>>) {
        let Some(cid) = &resp.content_id else {
            return;
        };
        // A view of the answer's own id: no copy per operation.
        let id = &cid.slice_of(normalize_content_id(cid));
        self.seen.insert(id.clone());
        if resp.is_error() {
            self.failed.insert(id.clone());
            return;
        }
        let o = Outcome {
            location: resp
                .headers
                .get_shared("location")
                .and_then(|b| Text::from_utf8(b).ok()),
            etag: resp.headers.get("etag").map(<[u8]>::to_vec),
        };
        match into_local {
            Some(l) => {
                l.insert(id.clone(), o);
            }
            None => {
                self.done.insert(id.clone(), o);
            }
        }
    }
}

/// Runs a batch request, read item by item from `items`, and returns the batch response.
///
/// By default the whole batch is read and validated first, within the readers'
/// [`ReadLimits`](crate::batch::ReadLimits), and only then run: a malformed part late in the
/// body is a whole-batch error before anything has had an effect. With
/// [`ExecOptions::streaming`] each operation runs as soon as it is read; a read error after
/// an operation has run gives one last `400` response without a Content-ID (a last
/// `application/http` part in multipart, a last element without `id` in JSON) after the
/// answers of the operations already run; before any has run it is the whole batch's error.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use batchpart::batch::{execute, handler_fn, Batch, ExecOptions, Item, RequestOp, ResponseOp};
/// use batchpart::stream::iter;
///
/// let items = iter(vec![
///     Ok(Item::Op(RequestOp::new("GET", "Customers").with_content_id("1"))),
///     Ok(Item::Op(RequestOp::new("GET", "Missing"))),
///     Ok(Item::Op(RequestOp::new("GET", "Never run"))),
/// ]);
/// let mut svc = handler_fn(|op: RequestOp| async move {
///     ResponseOp::new(if op.url == "Missing" { 404 } else { 200 })
/// });
/// let response = execute(items, &mut svc, ExecOptions::default()).await.unwrap();
/// // Stopped at the first failure, whose response is the last.
/// let statuses: Vec<u16> = response.items.iter().flat_map(|i| i.ops()).map(|r| r.status).collect();
/// assert_eq!(statuses, [200, 404]);
/// # }
/// ```
///
/// Changesets run without transactions: [`execute_with`] runs them under an [`Atomicity`]
/// hook.
pub async fn execute<S, Svc>(
    items: S,
    svc: &mut Svc,
    opts: ExecOptions,
) -> Result<BatchResponse, BatchError>
where
    S: Stream<Item = Result<Item<RequestOp>, BatchError>> + Unpin,
    Svc: Handler,
{
    execute_with(items, svc, &NoAtomicity, opts).await
}

/// Runs a batch request as [`execute`] does, each changeset between `atomicity`'s
/// [`begin`](Atomicity::begin) and its [`commit`](Atomicity::commit) or
/// [`rollback`](Atomicity::rollback); a future dropped while a group is open cancels it
/// ([`Atomicity::cancel`]). See [`Atomicity`] for an example.
pub async fn execute_with<S, Svc, A>(
    items: S,
    svc: &mut Svc,
    atomicity: &A,
    opts: ExecOptions,
) -> Result<BatchResponse, BatchError>
where
    S: Stream<Item = Result<Item<RequestOp>, BatchError>> + Unpin,
    A: Atomicity,
    Svc: Handler<A::Group>,
{
    let mut out = Vec::new();
    execute_each(items, svc, atomicity, opts, |item| out.push(item)).await?;
    Ok(BatchResponse { items: out })
}

/// An operation that depends on no other: it may run beside others.
fn independent(op: &RequestOp) -> bool {
    op.depends_on.is_empty()
        && reference(&op.url).is_none()
        && !op
            .headers
            .get_str("if-match")
            .is_some_and(|v| reference(v.trim()).is_some())
}

/// One operation run on a forked handle: a future that owns its handle.
async fn forked<G, Svc: Handler<G>>(mut svc: Svc, op: RequestOp) -> ResponseOp {
    svc.call(op).await
}

/// Operations in flight, answered in the order they started.
struct Window<F> {
    slots: VecDeque<Slot<F>>,
}

struct Slot<F> {
    id: Option<Text>,
    at: crate::writer::ContentIdIn,
    fut: Option<Pin<Box<F>>>,
    done: Option<ResponseOp>,
}

impl<F: Future<Output = ResponseOp>> Window<F> {
    /// Polls every operation in flight; ready when the oldest has its answer.
    fn poll_front(&mut self, cx: &mut Context<'_>) -> Poll<Option<ResponseOp>> {
        for slot in &mut self.slots {
            if let Some(f) = &mut slot.fut {
                if let Poll::Ready(r) = f.as_mut().poll(cx) {
                    slot.done = Some(r);
                    slot.fut = None;
                }
            }
        }
        match self.slots.front() {
            None => Poll::Ready(None),
            Some(s) if s.done.is_none() => Poll::Pending,
            Some(_) => {
                let Some(slot) = self.slots.pop_front() else {
                    return Poll::Ready(None);
                };
                let mut resp = slot.done.unwrap_or_default();
                resp.content_id = slot.id;
                resp.content_id_in = slot.at;
                Poll::Ready(Some(resp))
            }
        }
    }

    /// The oldest operation's answer, once it has one.
    async fn next(&mut self) -> Option<ResponseOp> {
        core::future::poll_fn(|cx| self.poll_front(cx)).await
    }
}

/// Runs a batch request as [`execute_with`] does, and hands each item of the response to
/// `emit` as soon as it is complete, in request order: a server can write each answer while
/// later operations run. Returns once the batch has run; an error is a whole-batch error,
/// returned before anything was emitted.
pub async fn execute_each<S, Svc, A, E>(
    mut items: S,
    svc: &mut Svc,
    atomicity: &A,
    opts: ExecOptions,
    mut emit: E,
) -> Result<(), BatchError>
where
    S: Stream<Item = Result<Item<RequestOp>, BatchError>> + Unpin,
    A: Atomicity,
    Svc: Handler<A::Group>,
    E: FnMut(Item<ResponseOp>),
{
    let mut run = Run {
        svc,
        opts,
        done: HashMap::new(),
        seen: HashSet::new(),
        failed: HashSet::new(),
    };
    let none = HashMap::new();
    let mut read = Vec::new();
    if !opts.streaming {
        // Read and validate everything before the first effect.
        while let Some(item) = Next(&mut items).await {
            read.push(item?);
        }
    }
    let mut read = read.into_iter();
    let concurrent = opts.concurrency > 1 && opts.continue_on_error;
    let mut window = Window {
        slots: VecDeque::new(),
    };
    let mut ran = false;
    loop {
        let item = if opts.streaming {
            match Next(&mut items).await {
                None => break,
                Some(Ok(item)) => item,
                Some(Err(e)) if !ran => return Err(e),
                Some(Err(e)) => {
                    // Operations have run: they keep their answers, and the rest of the batch
                    // gets one.
                    while let Some(resp) = window.next().await {
                        run.record(&resp, None);
                        emit(Item::Op(resp));
                    }
                    let msg = format!("the rest of the batch was not run: {e}");
                    emit(Item::Op(error_response(400, None, &msg)));
                    break;
                }
            }
        } else {
            match read.next() {
                None => break,
                Some(item) => item,
            }
        };
        ran = true;
        let item = match item {
            Item::Op(op) if concurrent && independent(&op) => match run.svc.fork() {
                Some(handle) => {
                    window.slots.push_back(Slot {
                        id: op.content_id.clone(),
                        at: op.content_id_in,
                        fut: Some(Box::pin(forked::<A::Group, _>(handle, op))),
                        done: None,
                    });
                    if window.slots.len() >= opts.concurrency {
                        if let Some(resp) = window.next().await {
                            run.record(&resp, None);
                            emit(Item::Op(resp));
                        }
                    }
                    continue;
                }
                None => Item::Op(op),
            },
            other => other,
        };
        // What depends on earlier operations waits for every one of them.
        while let Some(resp) = window.next().await {
            run.record(&resp, None);
            emit(Item::Op(resp));
        }
        match item {
            Item::Op(op) => {
                let resp = run.run_op::<A::Group>(op, &none, None).await;
                run.record(&resp, None);
                let failed = resp.is_error();
                emit(Item::Op(resp));
                if failed && !opts.continue_on_error {
                    break;
                }
            }
            Item::Changeset(c) => {
                if !run_changeset(&mut run, atomicity, c, &mut emit).await
                    && !opts.continue_on_error
                {
                    break;
                }
            }
        }
    }
    while let Some(resp) = window.next().await {
        run.record(&resp, None);
        emit(Item::Op(resp));
    }
    Ok(())
}

/// Runs a changeset between `begin` and `commit` (or `rollback`), emits its answer, and says
/// whether it succeeded. Dropped before the group is resolved, it cancels the group.
async fn run_changeset<Svc, A>(
    run: &mut Run<'_, Svc>,
    hook: &A,
    c: Changeset<RequestOp>,
    emit: &mut impl FnMut(Item<ResponseOp>),
) -> bool
where
    A: Atomicity,
    Svc: Handler<A::Group>,
{
    let id = c.id.as_deref();
    let group = hook.begin(id).await;
    let mut open = Open {
        hook,
        id,
        group,
        resolved: false,
    };
    let mut local = HashMap::new();
    let mut resps = Vec::with_capacity(c.ops.len());
    let mut failure = None;
    for op in c.ops.iter().cloned() {
        let resp = run.run_op(op, &local, Some(&open.group)).await;
        if resp.is_error() {
            failure = Some(resp);
            break;
        }
        run.record(&resp, Some(&mut local));
        resps.push(resp);
    }
    let failure = match failure {
        Some(f) => {
            hook.rollback(id, &open.group).await;
            Some(f)
        }
        None => hook.commit(id, &open.group).await.err(),
    };
    open.resolved = true;
    drop(open);
    match failure {
        Some(f) => {
            // The changeset is atomic: every member and the group count as failed.
            for op in &c.ops {
                if let Some(cid) = &op.content_id {
                    let cid = cid.slice_of(normalize_content_id(cid));
                    run.seen.insert(cid.clone());
                    run.failed.insert(cid);
                }
            }
            if let Some(g) = &c.id {
                run.failed.insert(Text::from(g.as_str()));
            }
            emit(Item::Op(f));
            false
        }
        None => {
            for (k, v) in local {
                run.seen.insert(k.clone());
                run.done.insert(k, v);
            }
            emit(Item::Changeset(Changeset {
                id: c.id.clone(),
                ops: resps,
            }));
            true
        }
    }
}
