//! Pairing the answers of a batch with its requests: what every client of a batch API needs
//! once the response is back.

use std::collections::HashMap;

use crate::batch::model::{
    normalize_content_id, reference, BatchRequest, BatchResponse, RequestOp, ResponseOp,
};

/// A request and what answered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair<'a> {
    /// The request, and its position among all the batch's operations (changesets flattened).
    pub request: (usize, &'a RequestOp),
    /// Its answer and that answer's position, if one was found.
    pub response: Option<(usize, &'a ResponseOp)>,
    /// How the answer was found.
    pub matched_by: Option<MatchedBy>,
}

/// How a response was paired with its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedBy {
    /// The same Content-ID (or JSON `id`), compared normalized; Google's `response-<id>` form
    /// answers `<id>`.
    ContentId,
    /// The same position, where the server left the ids out.
    Position,
}

/// The pairs of a request batch and its response batch. See [`correlate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correlation<'a> {
    /// One pair per request, in request order.
    pub pairs: Vec<Pair<'a>>,
    /// Responses that answer no request, with their positions.
    pub unmatched_responses: Vec<(usize, &'a ResponseOp)>,
    /// For each pair, the pairs its request refers to by `$<content-id>`, in its URL or in a
    /// header such as `If-Match`.
    pub references: Vec<Vec<usize>>,
}

impl<'a> Correlation<'a> {
    /// The requests that got no answer (a changeset answered by its failure alone, an
    /// operation after a stop on error, or a server that dropped it).
    pub fn unanswered(&self) -> impl Iterator<Item = &Pair<'a>> {
        self.pairs.iter().filter(|p| p.response.is_none())
    }
}

/// The id a response answers: its Content-ID normalized, with Google's `response-` prefix
/// taken off.
fn answered_id(id: &str) -> &str {
    let id = normalize_content_id(id);
    id.strip_prefix("response-").unwrap_or(id)
}

/// The `$<id>` a request names, at the start of its URL or of a header value.
pub(crate) fn references_of(op: &RequestOp) -> Vec<&str> {
    fn name(s: &str) -> Option<&str> {
        reference(s.trim()).map(|(id, _)| id)
    }
    let mut out: Vec<&str> = name(&op.url).into_iter().collect();
    for (_, v) in op.headers.iter() {
        if let Some(id) = core::str::from_utf8(v).ok().and_then(name) {
            out.push(id);
        }
    }
    out
}

/// Maps a request's flat position to the response position at the same place: the same
/// item and the same place within it when both batches have as many items, else the same
/// flat position.
fn position_map(
    requests: &BatchRequest,
    responses: &BatchResponse,
) -> impl Fn(usize) -> Option<usize> {
    let starts = |lens: &mut dyn Iterator<Item = usize>| -> Vec<usize> {
        let mut at = 0;
        lens.map(|n| {
            let s = at;
            at += n;
            s
        })
        .collect()
    };
    let by_item = requests.items.len() == responses.items.len();
    let req_lens: Vec<usize> = requests.items.iter().map(|i| i.ops().len()).collect();
    let resp_lens: Vec<usize> = responses.items.iter().map(|i| i.ops().len()).collect();
    let req_starts = starts(&mut req_lens.iter().copied());
    let resp_starts = starts(&mut resp_lens.iter().copied());
    move |flat| {
        if !by_item {
            return Some(flat);
        }
        let item = req_starts.partition_point(|&s| s <= flat).checked_sub(1)?;
        let within = flat - req_starts[item];
        (within < resp_lens[item]).then(|| resp_starts[item] + within)
    }
}

/// Pairs each request of `requests` with the response that answers it, in any format or
/// dialect: by Content-ID (MIME or embedded, or JSON `id`), compared normalized, across
/// changesets; by position where a response has no id and the request at its position has no
/// answer yet. A position is the item and the place within it when both batches have as
/// many items (a changeset answered by one error part then shifts nothing), else the place
/// among all operations. Responses that answer nothing, and requests that got no answer, are reported,
/// never dropped; each pair notes the pairs its request refers to by `$<content-id>`.
///
/// ```
/// use batchpart::batch::{correlate, Batch, Item, MatchedBy, RequestOp, ResponseOp};
///
/// let requests = Batch { items: vec![
///     Item::Op(RequestOp::new("POST", "/People").with_content_id("<1>")),
///     Item::Op(RequestOp::new("PATCH", "$1/Name").with_content_id("2")),
///     Item::Op(RequestOp::new("GET", "/Count")),
/// ] };
/// // The server answered out of order, echoed one id, and dropped the last.
/// let responses = Batch { items: vec![
///     Item::Op(ResponseOp::new(204).with_content_id("2")),
///     Item::Op(ResponseOp::new(201).with_content_id("<1>")),
///     Item::Op(ResponseOp::new(200)),
/// ] };
/// let c = correlate(&requests, &responses);
/// assert_eq!(c.pairs[0].response.map(|(_, r)| r.status), Some(201));
/// assert_eq!(c.pairs[1].response.map(|(_, r)| r.status), Some(204));
/// assert_eq!(c.pairs[2].matched_by, Some(MatchedBy::Position));
/// assert_eq!(c.references[1], [0]); // the PATCH refers to the POST
/// assert!(c.unmatched_responses.is_empty());
/// ```
pub fn correlate<'a>(requests: &'a BatchRequest, responses: &'a BatchResponse) -> Correlation<'a> {
    let reqs: Vec<&RequestOp> = requests.items.iter().flat_map(|i| i.ops()).collect();
    let resps: Vec<&ResponseOp> = responses.items.iter().flat_map(|i| i.ops()).collect();
    let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, r) in resps.iter().enumerate() {
        if let Some(id) = r.content_id.as_deref() {
            by_id.entry(answered_id(id)).or_default().push(i);
        }
    }
    let mut used = vec![false; resps.len()];
    let mut pairs: Vec<Pair<'a>> = reqs
        .iter()
        .enumerate()
        .map(|(i, &req)| {
            let hit = req
                .content_id
                .as_deref()
                .map(normalize_content_id)
                .and_then(|id| by_id.get_mut(id))
                .and_then(|list| {
                    let k = list.iter().position(|&j| !used[j])?;
                    Some(list.remove(k))
                });
            if let Some(j) = hit {
                used[j] = true;
            }
            Pair {
                request: (i, req),
                response: hit.map(|j| (j, resps[j])),
                matched_by: hit.map(|_| MatchedBy::ContentId),
            }
        })
        .collect();
    // Position as the fallback: a response without an id answers the request at its place.
    // Where both batches have as many items, a place is the item and the place within it, so
    // that a changeset answered by its one error part does not shift the answers after it.
    let place = position_map(requests, responses);
    for p in pairs.iter_mut().filter(|p| p.response.is_none()) {
        let Some(j) = place(p.request.0) else {
            continue;
        };
        if let Some(&r) = resps.get(j) {
            if !used[j] && r.content_id.is_none() {
                used[j] = true;
                p.response = Some((j, r));
                p.matched_by = Some(MatchedBy::Position);
            }
        }
    }
    let ids: HashMap<&str, usize> = reqs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((normalize_content_id(r.content_id.as_deref()?), i)))
        .collect();
    let references = reqs
        .iter()
        .map(|r| {
            references_of(r)
                .into_iter()
                .filter_map(|id| ids.get(id).copied())
                .collect()
        })
        .collect();
    let unmatched_responses = resps
        .iter()
        .enumerate()
        .filter(|(j, _)| !used[*j])
        .map(|(j, &r)| (j, r))
        .collect();
    Correlation {
        pairs,
        unmatched_responses,
        references,
    }
}
