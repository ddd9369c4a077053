//! Splitting a workload into batches that an API accepts.

use std::collections::HashMap;

use bytes::Bytes;

use crate::batch::error::{BatchError, BatchErrorKind as K};
use crate::batch::model::correlate::references_of;
use crate::batch::model::{
    normalize_content_id, reference, Batch, BatchRequest, Item, RequestOp, Text,
};

/// The wire format batches are measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wire {
    /// `multipart/mixed` (OData, Google, Azure).
    #[default]
    Multipart,
    /// A JSON batch (OData JSON, Graph).
    #[cfg(feature = "json")]
    Json,
}

/// What one batch may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SplitLimits {
    /// Operations per batch, changeset members included.
    pub max_operations: usize,
    /// Bytes per batch body, as written in [`wire`](Self::wire).
    pub max_batch_bytes: u64,
    /// The format the bytes are counted in.
    pub wire: Wire,
    /// Number each batch's Content-IDs from 0, as Azure Blob Batch requires; references to
    /// them are rewritten with them, and [`Planned::original`] maps back.
    pub renumber: bool,
}

setters!(SplitLimits {
    with_max_operations => max_operations: usize,
    with_max_batch_bytes => max_batch_bytes: u64,
    with_wire => wire: Wire,
    with_renumber => renumber: bool,
});

impl Default for SplitLimits {
    /// 1,000 operations and 16 MiB per multipart batch, ids kept.
    fn default() -> Self {
        SplitLimits {
            max_operations: 1000,
            max_batch_bytes: 16 << 20,
            wire: Wire::Multipart,
            renumber: false,
        }
    }
}

/// One batch to send, and where its operations came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The batch.
    pub batch: BatchRequest,
    /// For each of its operations, in order (changeset members included), its position among
    /// the input's operations, and its Content-ID as the caller gave it: the answers pair
    /// back through these even where the batch was renumbered.
    pub original: Vec<(usize, Option<Text>)>,
}

/// A batch's length as written in `wire`.
fn written_len(b: &Batch<RequestOp>, wire: Wire) -> Result<u64, BatchError> {
    Ok(match wire {
        Wire::Multipart => {
            crate::batch::write_multipart(b, b"batch_00000000000000000000000000000000")?
                .1
                .len() as u64
        }
        #[cfg(feature = "json")]
        Wire::Json => crate::batch::write_json(b)?.len() as u64,
    })
}

/// The bytes one item adds to a batch whose empty form takes `envelope` bytes, measured by
/// writing it.
fn item_bytes(item: &Item<RequestOp>, wire: Wire, envelope: u64) -> Result<u64, BatchError> {
    let one = Batch {
        items: vec![item.clone()],
    };
    // JSON: one more for the comma that joins it to the others.
    let comma = u64::from(wire != Wire::Multipart);
    Ok(written_len(&one, wire)? - envelope + comma)
}

/// Union-find over the input's items: items that must share a batch.
struct Groups(Vec<usize>);

impl Groups {
    fn find(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }
    fn join(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        // The earlier item names the group, so groups keep the order of their first item.
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        self.0[hi] = lo;
    }
}

/// A name for an item in an error: its changeset, or its operation's id, or its position.
fn name_of(items: &[Item<RequestOp>], i: usize) -> String {
    match &items[i] {
        Item::Changeset(c) => format!("changeset {}", c.id.as_deref().unwrap_or("(unnamed)")),
        Item::Op(op) => match &op.content_id {
            Some(id) => format!("operation {id}"),
            None => format!("operation {}", i + 1),
        },
    }
}

/// Splits a workload into batches that each meet `limits`.
///
/// - Every `dependsOn` chain, `$<content-id>` reference, atomicity group and changeset stays
///   inside one batch, so references need no rewriting.
/// - Operations keep their order within each batch, and batches come in the order of their
///   first operation.
/// - A chain or group that cannot fit in one batch is an error that names it
///   ([`TooManyOperations`](crate::batch::BatchErrorKind::TooManyOperations) or
///   [`BatchTooLarge`](crate::batch::BatchErrorKind::BatchTooLarge)): nothing is split
///   silently.
/// - Content-IDs and `id`s stay as given, unless [`SplitLimits::renumber`] asks for `0, 1, …`
///   per batch; [`Planned::original`] pairs the answers back either way.
///
/// ```
/// use batchpart::batch::{split, Batch, Item, RequestOp, SplitLimits};
/// let ops = (1..=5).map(|i| Item::Op(RequestOp::new("GET", format!("/x/{i}")).with_content_id(i.to_string())));
/// let mut work = Batch { items: ops.collect() };
/// // The third depends on the first: they share a batch.
/// if let Item::Op(op) = &mut work.items[2] { op.depends_on = vec!["1".into()]; }
/// let plan = split(&work, SplitLimits::default().with_max_operations(2)).unwrap();
/// let ids: Vec<Vec<usize>> = plan.iter().map(|p| p.original.iter().map(|o| o.0).collect()).collect();
/// assert_eq!(ids, [vec![0, 2], vec![1, 3], vec![4]]);
/// ```
pub fn split(work: &BatchRequest, limits: SplitLimits) -> Result<Vec<Planned>, BatchError> {
    let items = &work.items;
    let mut groups = Groups((0..items.len()).collect());
    // Which item holds each id and atomicity group.
    let mut holder: HashMap<String, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        if let Item::Changeset(c) = item {
            if let Some(g) = &c.id {
                holder.insert(g.clone(), i);
            }
        }
        for op in item.ops() {
            if let Some(id) = &op.content_id {
                holder.insert(normalize_content_id(id).to_string(), i);
            }
        }
    }
    for (i, item) in items.iter().enumerate() {
        for op in item.ops() {
            let named = op
                .depends_on
                .iter()
                .map(String::as_str)
                .chain(references_of(op));
            for d in named {
                if let Some(&j) = holder.get(d) {
                    groups.join(i, j);
                }
            }
        }
    }
    // The groups, in the order of their first item.
    let mut order: Vec<usize> = Vec::new();
    let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in 0..items.len() {
        let root = groups.find(i);
        let m = members.entry(root).or_default();
        if m.is_empty() {
            order.push(root);
        }
        m.push(i);
    }
    // The envelope every batch has, whatever it holds.
    let envelope = written_len(&Batch::default(), limits.wire)?;
    // Each JSON item counts the comma that joins it to another, and the first has none: a
    // batch is the envelope less one comma, plus its items.
    let base = envelope - u64::from(limits.wire != Wire::Multipart);
    let sizes = items
        .iter()
        .map(|i| item_bytes(i, limits.wire, envelope))
        .collect::<Result<Vec<_>, _>>()?;
    let mut first_op = Vec::with_capacity(items.len());
    let mut n = 0;
    for item in items {
        first_op.push(n);
        n += item.ops().len();
    }
    // Pack whole groups, first fit in order.
    let mut batches: Vec<(Vec<usize>, usize, u64)> = Vec::new();
    for root in order {
        let m = &members[&root];
        let ops: usize = m.iter().map(|&i| items[i].ops().len()).sum();
        let bytes: u64 = m.iter().map(|&i| sizes[i]).sum();
        let what = || {
            let names: Vec<String> = m.iter().map(|&i| name_of(items, i)).collect();
            names.join(", ")
        };
        if ops > limits.max_operations {
            return Err(BatchError::new(
                K::TooManyOperations,
                format!(
                    "{} must share a batch and hold {ops} operations, over {}",
                    what(),
                    limits.max_operations
                ),
            ));
        }
        if base + bytes > limits.max_batch_bytes {
            return Err(BatchError::new(
                K::BatchTooLarge,
                format!(
                    "{} must share a batch and take {} bytes, over {}",
                    what(),
                    base + bytes,
                    limits.max_batch_bytes
                ),
            ));
        }
        let fits = batches.iter().position(|(_, o, b)| {
            o + ops <= limits.max_operations && b + bytes <= limits.max_batch_bytes
        });
        match fits {
            Some(k) => {
                let b = &mut batches[k];
                b.0.extend_from_slice(m);
                b.1 += ops;
                b.2 += bytes;
            }
            None => batches.push((m.clone(), ops, base + bytes)),
        }
    }
    Ok(batches
        .into_iter()
        .map(|(mut idx, _, _)| {
            idx.sort_unstable();
            plan(items, &idx, &first_op, limits.renumber)
        })
        .collect())
}

/// One batch of the chosen items, renumbered if asked.
fn plan(items: &[Item<RequestOp>], idx: &[usize], first_op: &[usize], renumber: bool) -> Planned {
    let mut original = Vec::new();
    let mut out = Vec::with_capacity(idx.len());
    for &i in idx {
        for (k, op) in items[i].ops().iter().enumerate() {
            original.push((first_op[i] + k, op.content_id.clone()));
        }
        out.push(items[i].clone());
    }
    let mut batch = Batch { items: out };
    if renumber {
        let map: HashMap<String, String> = original
            .iter()
            .enumerate()
            .filter_map(|(n, (_, id))| {
                Some((
                    normalize_content_id(id.as_deref()?).to_string(),
                    n.to_string(),
                ))
            })
            .collect();
        let mut n = 0;
        for item in &mut batch.items {
            let ops: &mut [RequestOp] = match item {
                Item::Op(op) => core::slice::from_mut(op),
                Item::Changeset(c) => &mut c.ops,
            };
            for op in ops {
                op.content_id = Some(n.to_string().into());
                n += 1;
                renumber_refs(op, &map);
            }
        }
    }
    Planned { batch, original }
}

/// Rewrites `$old` references and `dependsOn` entries to the new ids.
fn renumber_refs(op: &mut RequestOp, map: &HashMap<String, String>) {
    let swap = |s: &str| -> Option<String> {
        let (id, rest) = reference(s.trim())?;
        let new = map.get(id)?;
        Some(format!("${new}{rest}"))
    };
    if let Some(u) = swap(&op.url) {
        op.url = u.into();
    }
    for v in op.headers.values_mut() {
        if let Some(new) = core::str::from_utf8(v).ok().and_then(swap) {
            *v = Bytes::from(new);
        }
    }
    for d in &mut op.depends_on {
        if let Some(new) = map.get(d.as_str()) {
            *d = new.clone();
        }
    }
}
