//! `batchpart batch send`: the whole client loop as one command. Reads a workload (as
//! `batch split` does), splits it within the dialect's limits, writes each batch, POSTs it,
//! reads the answer as a stream, pairs each answer with its request, and retries what
//! `batch::retry` says, honouring `Retry-After` up to `--max-wait`.
//!
//! Output: one JSON object on stdout, always, even when it exits 1:
//! `{"batches": K, "results": [{"content_id", "method", "url", "status", "headers", "body",
//! "attempts"}...]}`, one result per operation in workload order. `status` is `null`, and
//! only then with an `error`, where no answer came; `attempts` is 0 for an operation never
//! sent. The operations of a changeset that one error part answers carry that part's status
//! (so do the members of a JSON atomicity group answered by one member's error),
//! and so do all the operations of a batch answered whole: by a non-2xx status (its body is
//! each one's), or by a single error part without a Content-ID (Azure's whole-batch errors)
//! that cannot be one operation's own answer.
//!
//! With `--async`, each batch is posted with `Prefer: respond-async`. A `202` that carries
//! `Location` and `Preference-Applied: respond-async` names a status monitor: it is polled
//! (GET, with the same `--header`s, waiting its `Retry-After`, or 1 s, up to `--max-wait`
//! each time) until it answers `200 application/http`, whose response is then read as the
//! batch's answer, so the output is what a synchronous `batch send` prints. A server that
//! ignores the preference answers synchronously, and that answer is read as it is.
//!
//! Exit codes: 0 when every batch was answered, whatever the operations' statuses; 1 when a
//! batch failed as a whole or could not be sent (its status and body, or the error, go to
//! stderr, and the later batches are still sent); 2 a usage error.

use std::pin::Pin;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use batchpart::batch::{
    correlate, dialect, read_monitor, retry, Accepted, Batch, BatchError, BatchErrorKind,
    BatchOutcome, BatchRequest, BatchResponse, Dialect, FinalAnswer, Headers, Item, JsonReader,
    MonitorAnswer, MultipartReader, ReadLimits, RequestOp, ResponseOp, RetryPolicy, Wire,
};
use bytes::Bytes;
use futures_core::Stream;
use serde::Serialize;

use crate::batch::{headers, is_json_input, normalized, plan, read_workload, split_limits, text};
use crate::latin1::Latin1;
use crate::Failure;

pub(crate) const USAGE: &str = "usage: batchpart batch send \
[--dialect odata|google|azure-blob|azure-table|graph|json-batch] [--format multipart|json] \
[--header 'Name: value']... [--max-operations N] [--max-batch-bytes N] [--retries N] \
[--max-wait SECS] [--timeout SECS] [--unordered] [--async] [--content-type CT] URL [FILE|-]
  --format json (OData) chains each request to the one before it with dependsOn, so that the
  server runs them in order and stops at the first failure (later ones are answered 424);
  --unordered, or Prefer: odata.continue-on-error among the headers, adds none, and the
  order is the server's.
  --async asks for asynchronous batches (Prefer: respond-async) and follows each status
  monitor until its answer is ready, waiting its Retry-After (or 1 s) up to --max-wait.";

/// What the command line asks for.
struct Opts {
    dialect: String,
    json: bool,
    headers: Vec<(String, String)>,
    ops: Option<usize>,
    bytes: Option<u64>,
    retries: u32,
    max_wait: Duration,
    timeout: Duration,
    unordered: bool,
    respond_async: bool,
    url: String,
    /// The workload's FILE and `--content-type`, as `batch split` reads them.
    input: Vec<String>,
}

fn options(args: &[String]) -> Result<Opts, Failure> {
    let usage = |m: String| Failure::Usage(m, USAGE);
    let mut o = Opts {
        dialect: "odata".into(),
        json: false,
        headers: Vec::new(),
        ops: None,
        bytes: None,
        retries: 3,
        max_wait: Duration::from_secs(60),
        timeout: Duration::from_secs(300),
        unordered: false,
        respond_async: false,
        url: String::new(),
        input: Vec::new(),
    };
    let mut format = None;
    let mut positional = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| usage(format!("{a} needs a value")));
        let number = |v: &String| -> Result<u64, Failure> {
            v.parse().map_err(|_| usage(format!("{a} needs a number")))
        };
        match a.as_str() {
            "--dialect" => o.dialect = value()?.clone(),
            "--format" => format = Some(value()?.clone()),
            "--header" => {
                let h = value()?;
                let (n, v) = h
                    .split_once(':')
                    .ok_or_else(|| usage(format!("--header takes 'Name: value', not {h}")))?;
                o.headers.push((n.trim().to_string(), v.trim().to_string()));
            }
            "--max-operations" => o.ops = Some(number(value()?)? as usize),
            "--max-batch-bytes" => o.bytes = Some(number(value()?)?),
            "--retries" => o.retries = number(value()?)? as u32,
            "--max-wait" => o.max_wait = Duration::from_secs(number(value()?)?),
            "--timeout" => o.timeout = Duration::from_secs(number(value()?)?.max(1)),
            "--unordered" => o.unordered = true,
            "--async" => o.respond_async = true,
            "--content-type" => {
                let ct = value()?.clone();
                o.input.extend(["--content-type".to_string(), ct]);
            }
            p if !p.starts_with("--") || p == "-" => positional.push(p.to_string()),
            other => return Err(usage(format!("batch send has no option {other}"))),
        }
    }
    match positional.as_slice() {
        [url] => o.url = url.clone(),
        [url, file] => {
            o.url = url.clone();
            o.input.push(file.clone());
        }
        _ => return Err(usage("batch send takes a URL and at most one FILE".into())),
    }
    o.json = match (format.as_deref(), o.dialect.as_str()) {
        (None, "graph" | "json-batch") | (Some("json"), _) => true,
        (None, _) | (Some("multipart"), _) => false,
        (Some(f), _) => return Err(usage(format!("--format takes multipart or json, not {f}"))),
    };
    if o.json && !matches!(o.dialect.as_str(), "odata" | "graph" | "json-batch") {
        return Err(usage(format!("{} batches are multipart", o.dialect)));
    }
    if !o.json && matches!(o.dialect.as_str(), "graph" | "json-batch") {
        return Err(usage(format!("{} batches are JSON", o.dialect)));
    }
    Ok(o)
}

/// One operation's outcome, as printed.
#[derive(Serialize)]
struct OpResult {
    content_id: Option<Latin1>,
    method: Latin1,
    url: Latin1,
    status: Option<u16>,
    headers: Vec<(Latin1, Latin1)>,
    body: Latin1,
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct Output {
    batches: usize,
    results: Vec<OpResult>,
}

/// What each workload operation got: its final answer and how many times it was sent.
struct Outcome {
    answer: Option<ResponseOp>,
    attempts: u32,
    error: Option<String>,
}

/// `batchpart batch send ARGS`.
pub(crate) fn main(args: &[String]) -> ExitCode {
    let o = match options(args) {
        Ok(o) => o,
        Err(f) => return f.exit(),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Failure::Input(e.to_string()).exit(),
    };
    match rt.block_on(run(o)) {
        Ok((out, whole_failures)) => {
            println!("{out}");
            if whole_failures {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(f) => f.exit(),
    }
}

async fn run(o: Opts) -> Result<(String, bool), Failure> {
    let mut limits = split_limits(&o.dialect, o.ops, o.bytes, USAGE)?;
    let mut work = read_workload(&o.dialect, &o.input)?;
    if o.json {
        limits.wire = Wire::Json;
        name_every_request(&mut work);
    } else if o.dialect == "odata" && is_json_input(&o.input) {
        // A JSON workload sent as multipart is measured as multipart.
        limits.wire = Wire::Multipart;
    }
    let plans = plan(&o.dialect, &work, limits)?;
    let client = reqwest::Client::builder()
        .timeout(o.timeout)
        .build()
        .map_err(|e| Failure::Input(e.to_string()))?;
    let policy = RetryPolicy::default()
        .with_max_attempts(o.retries.saturating_add(1))
        .with_max_delay(o.max_wait);
    let ops: Vec<&RequestOp> = work.items.iter().flat_map(|i| i.ops()).collect();
    let mut outcomes: Vec<Outcome> = ops
        .iter()
        .map(|_| Outcome {
            answer: None,
            attempts: 0,
            error: None,
        })
        .collect();
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut whole_failures = false;
    let total = plans.len();
    for (k, planned) in plans.into_iter().enumerate() {
        if terminal {
            eprint!("\rbatch {} of {total}", k + 1);
        }
        // Where each operation of the batch being sent is in the workload.
        let mut at: Vec<usize> = planned.original.iter().map(|(i, _)| *i).collect();
        let mut pending = planned.batch;
        let mut attempt = 1;
        loop {
            for &w in &at {
                outcomes[w].attempts = attempt;
            }
            let answer = match send(&client, &o, &pending).await {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("error: batch {}: {e}", k + 1);
                    for &w in &at {
                        outcomes[w].error = Some(e.clone());
                    }
                    whole_failures = true;
                    break;
                }
            };
            let whole = whole_failure(&answer, &pending);
            settle(&pending, &answer, whole.as_ref(), &at, &mut outcomes);
            let outcome = BatchOutcome {
                status: whole.as_ref().map_or(answer.status, |w| w.0),
                retry_after: answer.retry_after.as_deref(),
                now: SystemTime::now(),
                attempt,
            };
            match retry(&pending, &answer.responses, outcome, &policy) {
                Some(next) => {
                    tokio::time::sleep(next.delay.min(o.max_wait)).await;
                    at = next.original.iter().map(|&i| at[i]).collect();
                    pending = next.batch;
                    attempt += 1;
                }
                None => {
                    if let Some((status, body)) = whole {
                        eprintln!(
                            "error: batch {} failed as a whole: {status} {}",
                            k + 1,
                            String::from_utf8_lossy(&body)
                        );
                        whole_failures = true;
                    }
                    break;
                }
            }
        }
    }
    if terminal {
        eprintln!();
    }
    let results = ops
        .iter()
        .zip(outcomes)
        .map(|(op, out)| {
            let unanswered = out.answer.is_none();
            let answer = out.answer.unwrap_or_else(|| ResponseOp::new(0));
            OpResult {
                content_id: op.content_id.as_deref().map(|id| text(normalized(id))),
                method: text(&op.method),
                url: text(&op.url),
                status: (!unanswered).then_some(answer.status),
                headers: headers(&answer.headers),
                body: Latin1(answer.body.to_vec()),
                attempts: out.attempts,
                error: unanswered.then(|| {
                    out.error.unwrap_or_else(|| match out.attempts {
                        0 => "never sent".into(),
                        _ => "no answer came for it".into(),
                    })
                }),
            }
        })
        .collect();
    let out = Output {
        batches: total,
        results,
    };
    let json = serde_json::to_string(&out).map_err(|e| Failure::Input(e.to_string()))?;
    Ok((json, whole_failures))
}

/// The OData JSON format needs an id on every request: a workload operation without one
/// gets `r<n>`, its position from 1.
fn name_every_request(work: &mut BatchRequest) {
    let mut n = 0;
    for item in &mut work.items {
        let ops: Vec<&mut RequestOp> = match item {
            Item::Op(op) => vec![op],
            Item::Changeset(c) => c.ops.iter_mut().collect(),
        };
        for op in ops {
            n += 1;
            if op.content_id.is_none() {
                op.content_id = Some(format!("r{n}").into());
            }
        }
    }
}

/// Chains a JSON batch's requests so that the server runs them in order: each depends on the
/// one before it (inside a group, the one before it in the group; the first after a group, on
/// the group).
fn chain(batch: &BatchRequest) -> BatchRequest {
    let mut out = batch.clone();
    let mut before: Option<String> = None;
    for item in &mut out.items {
        match item {
            Item::Op(op) => {
                if let Some(b) = before.take() {
                    if !op.depends_on.contains(&b) {
                        op.depends_on.push(b);
                    }
                }
                before = op.content_id.as_deref().map(str::to_owned);
            }
            Item::Changeset(c) => {
                let mut inside = before.take();
                for op in &mut c.ops {
                    if let Some(b) = inside.take() {
                        if !op.depends_on.contains(&b) {
                            op.depends_on.push(b);
                        }
                    }
                    inside = op.content_id.as_deref().map(str::to_owned);
                }
                before = c.id.clone();
            }
        }
    }
    out
}

/// One batch's answer.
struct Answer {
    status: u16,
    retry_after: Option<Vec<u8>>,
    /// The outer body, kept only when the batch was not read as one (a non-2xx status).
    body: Bytes,
    responses: BatchResponse,
}

/// A batch answered as a whole: a non-2xx status, or a single error part without a
/// Content-ID (Azure's whole-batch errors) where that part cannot be one operation's own
/// answer: the batch had more than one, or its one carried a Content-ID. (A server that
/// echoes no Content-IDs, as Google's emulator, answers a one-operation batch so.) Its status
/// and body.
fn whole_failure(a: &Answer, sent: &BatchRequest) -> Option<(u16, Bytes)> {
    if !(200..300).contains(&a.status) {
        return Some((a.status, a.body.clone()));
    }
    let named = sent
        .items
        .iter()
        .flat_map(|i| i.ops())
        .any(|o| o.content_id.is_some());
    let theirs = sent.op_count() > 1 || named;
    match a.responses.items.as_slice() {
        [Item::Op(r)] if r.content_id.is_none() && r.is_error() && theirs => {
            Some((r.status, r.body.clone()))
        }
        _ => None,
    }
}

/// Records the answers of one send: pairs found by `correlate`; a changeset answered by one
/// error part gives that part to each of its members; a batch answered whole gives its
/// status to every operation it has no answer for.
fn settle(
    pending: &BatchRequest,
    answer: &Answer,
    whole: Option<&(u16, Bytes)>,
    at: &[usize],
    outcomes: &mut [Outcome],
) {
    let pairs = correlate(pending, &answer.responses);
    for p in &pairs.pairs {
        if let Some((_, r)) = p.response {
            outcomes[at[p.request.0]].answer = Some(r.clone());
        }
    }
    // A changeset whose answer is one part (its failure) at the same item position.
    if pending.items.len() == answer.responses.items.len() {
        let mut first = 0;
        for (req, resp) in pending.items.iter().zip(&answer.responses.items) {
            let n = req.ops().len();
            if let (Item::Changeset(_), Item::Op(r)) = (req, resp) {
                for w in &at[first..first + n] {
                    outcomes[*w].answer.get_or_insert_with(|| r.clone());
                }
            }
            first += n;
        }
    }
    // An atomicity group is undone whole: a member with no answer of its own, beside a
    // member answered with an error (a JSON group's one error answer, under that member's
    // id), carries that error.
    let answered: Vec<Option<&ResponseOp>> = {
        let mut v = vec![None; at.len()];
        for p in &pairs.pairs {
            v[p.request.0] = p.response.map(|(_, r)| r);
        }
        v
    };
    let mut first = 0;
    for req in &pending.items {
        let members = first..first + req.ops().len();
        first = members.end;
        if !matches!(req, Item::Changeset(_)) {
            continue;
        }
        let failed = answered[members.clone()]
            .iter()
            .flatten()
            .find(|r| r.is_error());
        if let Some(r) = failed {
            for i in members.filter(|&i| answered[i].is_none()) {
                outcomes[at[i]].answer.get_or_insert_with(|| (*r).clone());
            }
        }
    }
    if let Some((status, body)) = whole {
        for (i, &w) in at.iter().enumerate() {
            let answered = pairs.pairs.get(i).is_some_and(|p| p.response.is_some());
            if !answered {
                outcomes[w].answer = Some(ResponseOp::new(*status).with_body(body.clone()));
            }
        }
    }
}

/// The dialect the batches are written and read in.
fn dialect(o: &Opts) -> Result<&'static dyn Dialect, BatchError> {
    let name = match (o.dialect.as_str(), o.json) {
        ("odata", true) => "odata-json",
        (name, _) => name,
    };
    dialect::by_name(name)
        .ok_or_else(|| BatchError::new(BatchErrorKind::Malformed, format!("no dialect {name}")))
}

/// Writes `batch` for the dialect and format: the Content-Type and the body. An OData JSON
/// batch is chained with `dependsOn` unless asked not to be.
fn write(o: &Opts, batch: &BatchRequest) -> Result<(String, Bytes), BatchError> {
    let continue_on_error = o.headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("prefer") && v.to_ascii_lowercase().contains("continue-on-error")
    });
    let chained;
    let batch = if o.dialect == "odata" && o.json && !o.unordered && !continue_on_error {
        chained = chain(batch);
        &chained
    } else {
        batch
    };
    dialect(o)?.write_request(batch, &batchpart::encoder::random_boundary())
}

/// Sends one batch and reads its answer.
async fn send(client: &reqwest::Client, o: &Opts, batch: &BatchRequest) -> Result<Answer, String> {
    let (ct, body) = write(o, batch).map_err(|e| e.to_string())?;
    let mut req = client.post(&o.url).header("Content-Type", ct).body(body);
    for (n, v) in &o.headers {
        req = req.header(n.as_str(), v.as_str());
    }
    if o.respond_async {
        req = req.header("Prefer", "respond-async");
    }
    let res = req.send().await.map_err(|e| format!("{}: {e}", o.url))?;
    let limits = ReadLimits::default();
    let status = res.status().as_u16();
    let accepted = Accepted::from_answer(status, &headers_of(res.headers()), SystemTime::now());
    let (status, headers, chunks): (u16, Headers, Chunks) = match accepted {
        Some(a) if o.respond_async => {
            let done = follow(client, o, a, limits.max_batch_bytes).await?;
            (done.status, done.headers, Box::pin(Once(Some(done.body))))
        }
        _ => (
            status,
            headers_of(res.headers()),
            Box::pin(res.bytes_stream()),
        ),
    };
    let retry_after = headers.get("retry-after").map(<[u8]>::to_vec);
    let ct = headers.get("content-type").unwrap_or_default().to_vec();
    if !(200..300).contains(&status) {
        let body = gather(chunks, limits.max_batch_bytes).await?;
        return Ok(Answer {
            status,
            retry_after,
            body,
            responses: Batch::default(),
        });
    }
    let responses = read_answer(o, &ct, chunks, limits)
        .await
        .map_err(|e| format!("the answer: {e}"))?;
    Ok(Answer {
        status,
        retry_after,
        body: Bytes::new(),
        responses,
    })
}

type Chunks = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;

fn headers_of(h: &reqwest::header::HeaderMap) -> Headers {
    let mut out = Headers::new();
    for (n, v) in h {
        out.push(n.as_str(), v.as_bytes());
    }
    out
}

/// A body already read whole, as the chunk stream the readers take.
struct Once(Option<Bytes>);

impl Stream for Once {
    type Item = Result<Bytes, reqwest::Error>;
    fn poll_next(
        mut self: Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(self.0.take().map(Ok))
    }
}

/// Polls a status monitor until it holds the batch's answer.
async fn follow(
    client: &reqwest::Client,
    o: &Opts,
    accepted: Accepted,
    max: u64,
) -> Result<FinalAnswer, String> {
    let base = reqwest::Url::parse(&o.url).map_err(|e| format!("{}: {e}", o.url))?;
    let monitor = base
        .join(&accepted.location)
        .map_err(|e| format!("the status monitor {}: {e}", accepted.location))?;
    let mut wait = accepted.retry_after;
    loop {
        let pause = wait.unwrap_or(Duration::from_secs(1)).min(o.max_wait);
        tokio::time::sleep(pause).await;
        let mut req = client.get(monitor.clone());
        for (n, v) in &o.headers {
            req = req.header(n.as_str(), v.as_str());
        }
        let res = req.send().await.map_err(|e| format!("{monitor}: {e}"))?;
        let status = res.status().as_u16();
        let headers = headers_of(res.headers());
        let body = gather(Box::pin(res.bytes_stream()), max).await?;
        match read_monitor(status, &headers, body, SystemTime::now()) {
            Ok(MonitorAnswer::Done(done)) => return Ok(done),
            Ok(MonitorAnswer::Running { retry_after }) => wait = retry_after,
            Ok(_) => return Err(format!("{monitor}: an answer this command does not know")),
            Err(e) => return Err(format!("{monitor}: {e}")),
        }
    }
}

/// The answer, read as a stream where the dialect's reader takes one, gathered (within the
/// batch byte limit) where it takes a buffer.
async fn read_answer(
    o: &Opts,
    ct: &[u8],
    chunks: Chunks,
    limits: ReadLimits,
) -> Result<BatchResponse, String> {
    let e = |e: BatchError| e.to_string();
    if o.dialect != "odata" {
        let body = gather(chunks, limits.max_batch_bytes).await?;
        return dialect(o).map_err(e)?.read_response(body, ct).map_err(e);
    }
    if is_json(ct) {
        collect(JsonReader::<_, ResponseOp>::new(chunks).limits(limits)).await
    } else {
        let r = MultipartReader::<_, ResponseOp>::new(chunks, ct).map_err(e)?;
        collect(r.limits(limits)).await
    }
}

fn is_json(ct: &[u8]) -> bool {
    let ct = String::from_utf8_lossy(ct).trim().to_ascii_lowercase();
    ct.starts_with("application/json")
}

/// Every item of a reader.
async fn collect<S>(mut s: S) -> Result<BatchResponse, String>
where
    S: Stream<Item = Result<Item<ResponseOp>, BatchError>> + Unpin,
{
    let mut items = Vec::new();
    while let Some(item) = std::future::poll_fn(|cx| Pin::new(&mut s).poll_next(cx)).await {
        items.push(item.map_err(|e| e.to_string())?);
    }
    Ok(Batch { items })
}

/// The whole body, refused past `max` bytes.
async fn gather(mut chunks: Chunks, max: u64) -> Result<Bytes, String> {
    let mut out = Vec::new();
    while let Some(c) = std::future::poll_fn(|cx| chunks.as_mut().poll_next(cx)).await {
        let c = c.map_err(|e| e.to_string())?;
        if (out.len() + c.len()) as u64 > max {
            return Err(format!("the answer is over {max} bytes"));
        }
        out.extend_from_slice(&c);
    }
    Ok(out.into())
}
