//! Asynchronous batches: OData's `Prefer: respond-async` (OData 4.01 Part 1 §8.2.8.8, §9.1.3,
//! §11.7.10). A valid batch is answered `202 Accepted` at once, runs in the background, and its
//! answer waits for the client at a status monitor, `<service root>$monitor/<32 hex digits>`.
//!
//! The pieces the application supplies are runtime-free: a [`Spawn`] that runs a future in the
//! background, and a [`MonitorStore`] for the results ([`MemoryStore`] by default).

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::Body;

use super::body::BatchBody;
use super::{error_op, respond, BatchConfig};
use crate::batch::{Headers, ODataVersion, Preferences};

/// Runs a future in the background: `tokio::spawn`, say, with its handle dropped.
pub type Spawn = Arc<dyn Fn(Pin<Box<dyn Future<Output = ()> + Send>>) + Send + Sync>;

/// Who is asking: computed from the submitting request, and again from every request to the
/// monitor, which is answered only when the two are equal.
pub type Identify = Arc<dyn Fn(&http::request::Parts) -> Identity + Send + Sync>;

/// How the service answers `Prefer: respond-async` (see
/// [`BatchConfig::respond_async`](super::BatchConfig::respond_async)).
///
/// # Security
///
/// A status monitor is a bearer capability: whoever holds its URL may read the batch's
/// answers or cancel it. So its id is 128 bits from the operating system's generator
/// (`getrandom`), and it is bound to its submitter: [`identify`](Self::identify) is computed
/// for the submitting request and kept with the result, and a request to the monitor whose
/// identity differs is answered `404`, as an unknown monitor is. The default identity is a
/// SHA-256 digest of the request's `Authorization` and `Cookie` fields under a key drawn at
/// construction ([`Identity::of_credentials`]): the store never holds the credentials, and a
/// digest is worth nothing to another process. An application whose callers authenticate
/// otherwise (a client certificate, a session resolved into the request's extensions) sets
/// its own [`identify`](Self::identify).
#[derive(Clone)]
#[non_exhaustive]
pub struct AsyncBatches {
    /// Runs the accepted batches. A run it drops before it finishes (a runtime shutting
    /// down) leaves at its monitor the answers written so far and a last `500` answer that
    /// says the run stopped, its open group rolled back through
    /// [`Atomicity::cancel`](crate::batch::Atomicity::cancel).
    pub spawn: Spawn,
    /// Where pending and finished batches are kept. Default: [`MemoryStore::default`].
    pub store: Arc<dyn MonitorStore>,
    /// The `Retry-After` of the `202`s, rounded up to whole seconds. Default: 1 s.
    pub retry_after: Duration,
    /// The bound of one stored answer, its `application/http` head included. An operation
    /// whose answer would take the stored answer past it is answered `500`, saying that it
    /// ran and with what status (each such answer takes a few hundred bytes). The store
    /// reserves this much for each batch while it runs. Default: 16 MiB.
    pub max_result_bytes: u64,
    /// The identity a monitor is bound to. Default: [`Identity::of_credentials`] under a key
    /// drawn when this value is made.
    pub identify: Identify,
    running: Arc<Mutex<HashMap<MonitorId, Arc<Control>>>>,
}

setters!(AsyncBatches {
    with_spawn => spawn: Spawn,
    with_store => store: Arc<dyn MonitorStore>,
    with_retry_after => retry_after: Duration,
    with_max_result_bytes => max_result_bytes: u64,
    with_identify => identify: Identify,
});

impl AsyncBatches {
    /// Asynchronous batches run by `spawn`, with the defaults above.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use batchpart::server::{AsyncBatches, BatchConfig, MemoryStore};
    ///
    /// let batches = AsyncBatches::new(Arc::new(|run| drop(tokio::spawn(run))))
    ///     .with_store(Arc::new(MemoryStore::new(10, 64 << 20, Duration::from_secs(300))));
    /// let cfg = BatchConfig::default().with_respond_async(Some(batches));
    /// assert!(cfg.respond_async.is_some());
    /// ```
    pub fn new(spawn: Spawn) -> Self {
        let mut key = [0u8; 32];
        // Without the generator no monitor is made (see `accept`); the key is then unused.
        let _ = getrandom::fill(&mut key);
        AsyncBatches {
            spawn,
            store: Arc::new(MemoryStore::default()),
            retry_after: Duration::from_secs(1),
            max_result_bytes: 16 << 20,
            identify: Arc::new(move |parts| Identity::of_credentials(&key, parts)),
            running: Arc::default(),
        }
    }

    fn control(&self) -> MutexGuard<'_, HashMap<MonitorId, Arc<Control>>> {
        lock(&self.running)
    }
}

impl core::fmt::Debug for AsyncBatches {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AsyncBatches")
            .field("retry_after", &self.retry_after)
            .field("max_result_bytes", &self.max_result_bytes)
            .finish_non_exhaustive()
    }
}

/// A status monitor's id: 128 random bits, written as 32 lowercase hexadecimal digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MonitorId([u8; 16]);

impl MonitorId {
    /// A fresh id from the operating system's generator; `None` if it fails.
    pub fn random() -> Option<Self> {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b).ok()?;
        Some(MonitorId(b))
    }

    /// The id that `text` writes: exactly 32 lowercase hexadecimal digits.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.as_bytes();
        if t.len() != 32 {
            return None;
        }
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut b = [0u8; 16];
        for (i, pair) in t.chunks_exact(2).enumerate() {
            b[i] = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Some(MonitorId(b))
    }
}

impl core::fmt::Display for MonitorId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl core::fmt::Debug for MonitorId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "MonitorId({self})")
    }
}

/// The identity a monitor is bound to: a SHA-256 digest, compared in constant time.
#[derive(Clone, Copy)]
pub struct Identity([u8; 32]);

impl Identity {
    /// The identity of these key bytes (a user id, a certificate's fingerprint), under a
    /// domain separator: equal bytes give equal identities.
    pub fn of(key: &[u8]) -> Self {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"batchpart status monitor owner\0");
        h.update(key);
        Identity(h.finalize().into())
    }

    /// The default identity: the digest, under `key`, of every `Authorization` and `Cookie`
    /// field of the request, in order, each name and value length-prefixed so that no two
    /// different sets of fields hash alike. A request with neither field has the identity of
    /// every other such request.
    pub fn of_credentials(key: &[u8], parts: &http::request::Parts) -> Self {
        let mut bytes = key.to_vec();
        for name in [http::header::AUTHORIZATION, http::header::COOKIE] {
            for v in parts.headers.get_all(&name) {
                for field in [name.as_str().as_bytes(), v.as_bytes()] {
                    bytes.extend_from_slice(&(field.len() as u64).to_le_bytes());
                    bytes.extend_from_slice(field);
                }
            }
        }
        Identity::of(&bytes)
    }
}

impl PartialEq for Identity {
    fn eq(&self, other: &Self) -> bool {
        // Constant time: a poller learns nothing of the digest from how long a refusal took.
        self.0
            .iter()
            .zip(other.0)
            .fold(0u8, |d, (a, b)| d | (a ^ b))
            == 0
    }
}

impl Eq for Identity {}

impl core::fmt::Debug for Identity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Identity(..)")
    }
}

/// A monitor as the store holds it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Monitor {
    /// Who submitted the batch.
    pub owner: Identity,
    /// The batch's whole answer as an `application/http` document once it finished; `None`
    /// while it runs.
    pub result: Option<Bytes>,
}

/// Where pending and finished asynchronous batches are kept. Calls are synchronous and
/// short; `now` is passed in, so that a store is tested without waiting.
pub trait MonitorStore: Send + Sync + 'static {
    /// Takes a new batch, reserving `room` bytes for its answer; `false` when the store is
    /// full, and the batch then runs synchronously.
    fn begin(&self, id: MonitorId, owner: Identity, room: u64, now: Instant) -> bool;
    /// The batch finished with this answer. A batch removed meanwhile (cancelled) keeps
    /// nothing.
    fn finish(&self, id: MonitorId, result: Bytes, now: Instant);
    /// The monitor, unless it is unknown or expired.
    fn get(&self, id: MonitorId, now: Instant) -> Option<Monitor>;
    /// Forgets the monitor.
    fn remove(&self, id: MonitorId);
}

/// The default store, in memory: at most [`max_batches`](Self::new) batches, pending and
/// finished, at most `max_bytes` of answers (a pending batch counts its reserved room), and
/// each finished answer kept for `ttl` from when it finished, however often it is read.
/// After that, or once removed, the monitor answers `404`. An answer nobody fetches is
/// dropped when its time to live ends: expired entries are purged on every call, oldest
/// first, in time proportional to their number.
#[derive(Debug)]
pub struct MemoryStore {
    max_batches: usize,
    max_bytes: u64,
    ttl: Duration,
    inner: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    entries: HashMap<MonitorId, Entry>,
    /// Finished entries by expiry; their ttl is one, so finishing order is expiry order.
    expiries: VecDeque<(Instant, MonitorId)>,
    /// The bytes reserved by pending batches and held by finished ones.
    bytes: u64,
}

#[derive(Debug)]
struct Entry {
    owner: Identity,
    room: u64,
    result: Option<(Bytes, Instant)>,
}

impl Entry {
    fn bytes(&self) -> u64 {
        self.result
            .as_ref()
            .map_or(self.room, |(r, _)| r.len() as u64)
    }
}

impl Default for MemoryStore {
    /// 100 batches, 256 MiB, 10 minutes.
    fn default() -> Self {
        MemoryStore::new(100, 256 << 20, Duration::from_secs(600))
    }
}

impl MemoryStore {
    /// A store of at most `max_batches` batches and `max_bytes` of answers, each finished
    /// answer kept for `ttl`.
    pub fn new(max_batches: usize, max_bytes: u64, ttl: Duration) -> Self {
        MemoryStore {
            max_batches,
            max_bytes,
            ttl,
            inner: Mutex::default(),
        }
    }

    fn kept(&self, now: Instant) -> MutexGuard<'_, Kept> {
        let mut k = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(&(at, id)) = k.expiries.front() {
            if at > now {
                break;
            }
            k.expiries.pop_front();
            let expired = k
                .entries
                .get(&id)
                .is_some_and(|e| e.result.as_ref().is_some_and(|r| r.1 == at));
            if expired {
                k.drop_entry(id);
            }
        }
        k
    }
}

impl Kept {
    fn drop_entry(&mut self, id: MonitorId) {
        if let Some(e) = self.entries.remove(&id) {
            self.bytes -= e.bytes();
        }
    }
}

impl MonitorStore for MemoryStore {
    fn begin(&self, id: MonitorId, owner: Identity, room: u64, now: Instant) -> bool {
        let mut k = self.kept(now);
        let fits = k
            .bytes
            .checked_add(room)
            .is_some_and(|b| b <= self.max_bytes);
        if k.entries.len() >= self.max_batches || !fits || k.entries.contains_key(&id) {
            return false;
        }
        k.bytes += room;
        k.entries.insert(
            id,
            Entry {
                owner,
                room,
                result: None,
            },
        );
        true
    }

    fn finish(&self, id: MonitorId, result: Bytes, now: Instant) {
        let mut k = self.kept(now);
        let Some(e) = k.entries.get_mut(&id) else {
            return;
        };
        if e.result.is_some() {
            return;
        }
        let (reserved, len) = (e.room, result.len() as u64);
        // A time to live past what `Instant` can hold never ends.
        let expiry = now.checked_add(self.ttl);
        e.result = Some((result, expiry.unwrap_or(now)));
        k.bytes = k.bytes - reserved + len;
        if let Some(at) = expiry {
            k.expiries.push_back((at, id));
        }
    }

    fn get(&self, id: MonitorId, now: Instant) -> Option<Monitor> {
        let k = self.kept(now);
        k.entries.get(&id).map(|e| Monitor {
            owner: e.owner,
            result: e.result.as_ref().map(|r| r.0.clone()),
        })
    }

    fn remove(&self, id: MonitorId) {
        let mut k = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        k.drop_entry(id);
    }
}

/// A background run's switch: DELETE sets `cancelled` and waits for `done`.
#[derive(Default)]
struct Control(Mutex<ControlState>);

#[derive(Default)]
struct ControlState {
    cancelled: bool,
    done: bool,
    task: Option<Waker>,
    waiters: Vec<Waker>,
}

impl Control {
    fn state(&self) -> MutexGuard<'_, ControlState> {
        lock(&self.0)
    }

    /// Stops the run (its next poll drops it) and waits until it has been dropped: an open
    /// group has then rolled back through the atomicity hook's `cancel`.
    async fn cancel(&self) {
        let task = {
            let mut s = self.state();
            s.cancelled = true;
            s.task.take()
        };
        if let Some(w) = task {
            w.wake();
        }
        core::future::poll_fn(|cx| {
            let mut s = self.state();
            if s.done {
                return Poll::Ready(());
            }
            s.waiters.push(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

/// The spawned future: the batch's run, dropped unpolled once cancelled.
struct Background {
    id: MonitorId,
    control: Arc<Control>,
    running: Arc<Mutex<HashMap<MonitorId, Arc<Control>>>>,
    store: Arc<dyn MonitorStore>,
    /// What the run has written so far: kept when the run is dropped unfinished.
    partial: Partial,
    run: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

/// The answer's head, the bytes the run has drained from its body, and the body's queue.
#[derive(Clone)]
struct Partial {
    head: Head,
    drained: Arc<Mutex<Vec<u8>>>,
    queue: Option<super::body::Queue>,
}

/// The status and headers of the answer.
#[derive(Clone)]
struct Head {
    status: http::StatusCode,
    headers: http::HeaderMap,
}

impl Background {
    fn stop(&mut self) {
        let abandoned = self.run.is_some() && !self.control.state().cancelled;
        // Dropping the run resolves its open group (the disconnect contract) before anyone
        // waiting on the cancellation hears that it is done. A run dropped unfinished closes
        // its document with a last answer that says it stopped (see `encode::Output`).
        self.run = None;
        if abandoned {
            let mut bytes = core::mem::take(&mut *lock(&self.partial.drained));
            if let Some(q) = &self.partial.queue {
                super::body::drain(q, &mut bytes);
            }
            let doc = document(&self.partial.head, &bytes);
            self.store.finish(self.id, doc, Instant::now());
        }
        lock(&self.running).remove(&self.id);
        let waiters = {
            let mut s = self.control.state();
            s.done = true;
            core::mem::take(&mut s.waiters)
        };
        waiters.into_iter().for_each(Waker::wake);
    }
}

impl Future for Background {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let cancelled = {
            let mut s = self.control.state();
            s.task = Some(cx.waker().clone());
            s.cancelled
        };
        if !cancelled {
            if let Some(run) = &mut self.run {
                if run.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.run = None;
            }
        }
        self.stop();
        Poll::Ready(())
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if !self.control.state().done {
            self.stop();
        }
    }
}

/// A batch accepted to run in the background.
pub(crate) struct Accepted {
    id: MonitorId,
    batches: AsyncBatches,
}

/// Whether this batch request runs asynchronously: the service allows it, the client asks
/// for it, the batch is OData 4.0 or 4.01 read validate-first, and the store has room.
pub(crate) fn accept(
    cfg: &BatchConfig,
    parts: &http::request::Parts,
    prefs: &Preferences,
    version: ODataVersion,
) -> Option<Accepted> {
    let batches = cfg.respond_async.as_ref()?;
    let v4 = matches!(version, ODataVersion::V4_0 | ODataVersion::V4_01);
    if !prefs.respond_async || !v4 || cfg.streaming {
        return None;
    }
    let id = MonitorId::random()?;
    let owner = (batches.identify)(parts);
    let room = batches.max_result_bytes;
    if !batches.store.begin(id, owner, room, Instant::now()) {
        return None;
    }
    Some(Accepted {
        id,
        batches: batches.clone(),
    })
}

impl Accepted {
    /// The bound of the stored answer's body: the room less the head.
    pub(crate) fn bound(&self) -> u64 {
        self.batches.max_result_bytes.saturating_sub(HEAD_ROOM)
    }

    /// Spawns the run that `answer` would stream, storing its whole answer, and answers `202`.
    pub(crate) fn submit(
        self,
        answer: http::Response<BatchBody>,
        root: &str,
        version: (&str, &str),
    ) -> http::Response<BatchBody> {
        let Accepted { id, batches } = self;
        let control = Arc::new(Control::default());
        batches.control().insert(id, control.clone());
        let store = batches.store.clone();
        let (parts, body) = answer.into_parts();
        let partial = Partial {
            head: Head {
                status: parts.status,
                headers: parts.headers,
            },
            drained: Arc::default(),
            queue: body.queue(),
        };
        let run = {
            let partial = partial.clone();
            async move {
                drain_body(body, &partial.drained).await;
                let bytes = core::mem::take(&mut *lock(&partial.drained));
                store.finish(id, document(&partial.head, &bytes), Instant::now());
            }
        };
        (batches.spawn)(Box::pin(Background {
            id,
            control,
            running: batches.running.clone(),
            store: batches.store.clone(),
            partial,
            run: Some(Box::pin(run)),
        }));
        let mut h = Headers::new();
        h.push("Location", format!("{root}$monitor/{id}"));
        h.push("Preference-Applied", "respond-async");
        h.push("Retry-After", seconds(batches.retry_after));
        h.push(version.0, version.1);
        respond(202, &h, BatchBody::whole(Bytes::new()))
    }
}

/// What the `application/http` head of a stored answer takes at most: its status line and the
/// service's own few headers.
const HEAD_ROOM: u64 = 512;

fn seconds(d: Duration) -> String {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).to_string()
}

/// Reads the answer's body to its end into `into`: each frame is added as it comes, so that a
/// run dropped meanwhile leaves there what it wrote.
async fn drain_body(body: BatchBody, into: &Mutex<Vec<u8>>) {
    let mut body = core::pin::pin!(body);
    while let Some(frame) = core::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.unwrap_or_else(|never| match never {});
        if let Ok(data) = frame.into_data() {
            lock(into).extend_from_slice(&data);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The whole answer as `application/http`: status line, headers, `Content-Length`, body.
fn document(head: &Head, body: &[u8]) -> Bytes {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        head.status.as_u16(),
        head.status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    for (n, v) in &head.headers {
        let name = crate::batch::http_interop::HeaderCase::Title.spell(n.as_str());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out.into()
}

/// The id of a monitor request: the path is the service root's followed by `$monitor/<id>`
/// (the `$` also percent-encoded). `root` is the configured root's path, if any.
pub(crate) fn monitor_in(path: &str, root: Option<&str>) -> Option<MonitorId> {
    let (dir, id) = path.rsplit_once('/')?;
    let (parent, name) = dir.rsplit_once('/')?;
    if name != "$monitor" && !name.eq_ignore_ascii_case("%24monitor") {
        return None;
    }
    // The root's path ends in `/`.
    let base = &dir[..parent.len() + 1];
    if root.is_some_and(|r| r != base) {
        return None;
    }
    MonitorId::parse(id)
}

/// GET or DELETE on a monitor.
pub(crate) async fn serve(
    batches: &AsyncBatches,
    parts: &http::request::Parts,
    id: MonitorId,
) -> http::Response<BatchBody> {
    let not_found = || {
        let op = error_op(404, None, "no such status monitor: unknown or expired");
        respond(404, &op.headers, BatchBody::whole(op.body))
    };
    let store = &batches.store;
    let monitor = store
        .get(id, Instant::now())
        .filter(|m| m.owner == (batches.identify)(parts));
    let Some(monitor) = monitor else {
        return not_found();
    };
    let mut h = Headers::new();
    match (&parts.method, monitor.result) {
        (&http::Method::GET, Some(result)) => {
            h.push("Content-Type", "application/http");
            h.push("Content-Transfer-Encoding", "binary");
            if let Some(status) = result.get(9..12) {
                h.push("AsyncResult", status.to_vec());
            }
            respond(200, &h, BatchBody::whole(result))
        }
        (&http::Method::GET, None) => {
            h.push("Retry-After", seconds(batches.retry_after));
            respond(202, &h, BatchBody::whole(Bytes::new()))
        }
        (&http::Method::DELETE, _) => {
            let control = batches.control().get(&id).cloned();
            if let Some(c) = control {
                c.cancel().await;
            }
            store.remove(id);
            respond(204, &h, BatchBody::whole(Bytes::new()))
        }
        _ => {
            let mut op = error_op(405, None, "a status monitor answers GET and DELETE");
            op.headers.push("Allow", "GET, DELETE");
            respond(405, &op.headers, BatchBody::whole(op.body))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> MonitorId {
        MonitorId([n; 16])
    }

    #[test]
    fn ids_are_32_lowercase_hex_digits_both_ways() {
        let a = MonitorId::random().unwrap();
        let text = a.to_string();
        assert_eq!(text.len(), 32);
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(MonitorId::parse(&text), Some(a));
        assert_ne!(MonitorId::random().unwrap(), a);
        let b = MonitorId([0x0f, 0xa0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0xff]);
        assert_eq!(b.to_string(), "0fa00102030405060708090a0b0c0dff");
        assert_eq!(
            MonitorId::parse("0fa00102030405060708090a0b0c0dff"),
            Some(b)
        );
        for bad in [
            "0FA00102030405060708090a0b0c0dff",
            "0fa00102030405060708090a0b0c0df",
            "0fa00102030405060708090a0b0c0dfg",
            "0fa00102030405060708090a0b0c0dff0",
        ] {
            assert_eq!(MonitorId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn identities_bind_the_credentials() {
        let parts = |fields: &[(&str, &str)]| {
            let mut r = http::Request::builder();
            for (n, v) in fields {
                r = r.header(*n, *v);
            }
            r.body(()).unwrap().into_parts().0
        };
        let of = |key: &[u8], f: &[(&str, &str)]| Identity::of_credentials(key, &parts(f));
        let alice = [("Authorization", "Bearer a")];
        assert_eq!(
            of(b"k", &alice),
            of(b"k", &[("Authorization", "Bearer a"), ("X", "y")])
        );
        assert_ne!(of(b"k", &alice), of(b"k", &[("Authorization", "Bearer b")]));
        assert_ne!(of(b"k", &alice), of(b"j", &alice));
        assert_ne!(of(b"k", &alice), of(b"k", &[]));
        assert_ne!(
            of(b"k", &[("Cookie", "a=1")]),
            of(b"k", &[("Cookie", "a=1"), ("Cookie", "b=2")])
        );
        // Length prefixes: the split between two fields cannot move.
        assert_ne!(
            of(b"k", &[("Authorization", "ab"), ("Cookie", "c")]),
            of(b"k", &[("Authorization", "a"), ("Cookie", "bc")])
        );
        assert_eq!(of(b"k", &[]), of(b"k", &[("Accept", "*/*")]));
        assert_eq!(Identity::of(b"u1"), Identity::of(b"u1"));
        assert_ne!(Identity::of(b"u1"), Identity::of(b"u2"));
        // Two differences that would cancel in an XOR fold still differ.
        let mut twice = [0u8; 32];
        twice[3] = 1;
        twice[9] = 1;
        assert_ne!(Identity([0; 32]), Identity(twice));
        assert_eq!(format!("{:?}", Identity([7; 32])), "Identity(..)");
    }

    #[test]
    fn debug_names_without_telling_secrets() {
        let id = MonitorId([0xab; 16]);
        assert_eq!(format!("{id:?}"), format!("MonitorId({id})"));
        let b = AsyncBatches::new(Arc::new(drop)).with_max_result_bytes(77);
        let text = format!("{b:?}");
        assert!(text.starts_with("AsyncBatches {"), "{text}");
        assert!(text.contains("max_result_bytes: 77"), "{text}");
        assert!(text.contains("retry_after: 1s"), "{text}");
    }

    #[test]
    fn the_memory_store_keeps_its_limits_and_its_time_to_live() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(10);
        let owner = Identity::of(b"o");
        let s = MemoryStore::new(2, 100, ttl);
        assert!(s.begin(id(1), owner, 60, t0));
        assert!(!s.begin(id(1), owner, 1, t0), "an id is taken once");
        assert!(!s.begin(id(2), owner, 41, t0), "60 + 41 bytes are over 100");
        assert!(s.begin(id(2), owner, 40, t0));
        assert!(!s.begin(id(3), owner, 0, t0), "two batches at most");
        assert!(s.get(id(1), t0).unwrap().result.is_none());
        // Finishing trades the reservation for the answer's size.
        s.finish(id(1), Bytes::from_static(b"0123456789"), t0);
        s.remove(id(2));
        assert!(s.begin(id(3), owner, 90, t0), "10 + 90 bytes fit");
        assert!(!s.begin(id(4), owner, 0, t0));
        let kept = s.get(id(1), t0 + Duration::from_secs(9)).unwrap();
        assert_eq!(kept.result.as_deref(), Some(&b"0123456789"[..]));
        assert_eq!(kept.owner, owner);
        assert!(
            s.get(id(1), t0 + Duration::from_secs(9)).is_some(),
            "read twice"
        );
        assert!(
            s.get(id(1), t0 + ttl).is_none(),
            "expired at its time to live"
        );
        assert!(
            s.begin(id(4), owner, 10, t0 + ttl),
            "its bytes and its slot are free"
        );
        // A result for a removed (cancelled) batch is not kept.
        s.remove(id(3));
        // The removal gave back exactly the 90 reserved: 10 left + 91 is over 100.
        assert!(!s.begin(id(9), owner, 91, t0 + ttl));
        s.finish(id(3), Bytes::from_static(b"late"), t0 + ttl);
        assert!(s.get(id(3), t0 + ttl).is_none());
        assert!(s.begin(id(5), owner, 90, t0 + ttl), "10 + 90 bytes again");
        // Finishing twice keeps the first; the second takes no bytes.
        s.finish(id(4), Bytes::from_static(b"a"), t0 + ttl);
        s.finish(id(4), Bytes::from_static(b"bbbbbbbbb"), t0 + ttl);
        assert_eq!(
            s.get(id(4), t0 + ttl).unwrap().result.as_deref(),
            Some(&b"a"[..])
        );
        s.remove(id(5));
        assert!(s.begin(id(6), owner, 99, t0 + ttl), "1 + 99 bytes");
    }

    #[test]
    fn a_removed_result_does_not_expire_its_successor() {
        let t0 = Instant::now();
        let s = MemoryStore::new(4, 100, Duration::from_secs(10));
        let owner = Identity::of(b"o");
        assert!(s.begin(id(1), owner, 10, t0));
        s.finish(id(1), Bytes::from_static(b"x"), t0);
        s.remove(id(1));
        assert!(s.begin(id(1), owner, 10, t0 + Duration::from_secs(5)));
        s.finish(id(1), Bytes::from_static(b"y"), t0 + Duration::from_secs(5));
        let later = t0 + Duration::from_secs(11);
        assert_eq!(
            s.get(id(1), later).unwrap().result.as_deref(),
            Some(&b"y"[..])
        );
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let s = |ms| seconds(Duration::from_millis(ms));
        assert_eq!(
            [s(0), s(200), s(1000), s(1500), s(2000)],
            ["0", "1", "1", "2", "2"]
        );
    }

    #[test]
    fn monitor_paths() {
        let id = "0123456789abcdef0123456789abcdef";
        let parsed = MonitorId::parse(id);
        assert_eq!(monitor_in(&format!("/s/$monitor/{id}"), None), parsed);
        assert_eq!(
            monitor_in(&format!("/s/%24monitor/{id}"), Some("/s/")),
            parsed
        );
        assert_eq!(monitor_in(&format!("/$monitor/{id}"), Some("/")), parsed);
        assert_eq!(monitor_in(&format!("/t/$monitor/{id}"), Some("/s/")), None);
        assert_eq!(monitor_in(&format!("/s/monitor/{id}"), None), None);
        assert_eq!(monitor_in("/s/$monitor/0123", None), None);
        assert_eq!(monitor_in(&format!("$monitor/{id}"), None), None);
    }
}
