//! Retrying only what failed, and only what may be retried.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::batch::model::correlate::{correlate, references_of};
use crate::batch::model::{normalize_content_id, Batch, BatchRequest, BatchResponse, Item};

/// Which answers are worth another try, how often, and how long to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Statuses to retry. Default: 429, 502, 503, 504.
    pub statuses: Vec<u16>,
    /// Sends in all, the first included. Default 4.
    pub max_attempts: u32,
    /// The longest wait, whatever `Retry-After` asks. Default 60 s.
    pub max_delay: Duration,
    /// The wait when no `Retry-After` says: doubled at each attempt. Default 1 s.
    pub base_delay: Duration,
}

setters!(RetryPolicy {
    with_statuses => statuses: Vec<u16>,
    with_max_attempts => max_attempts: u32,
    with_max_delay => max_delay: Duration,
    with_base_delay => base_delay: Duration,
});

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            statuses: vec![429, 502, 503, 504],
            max_attempts: 4,
            max_delay: Duration::from_secs(60),
            base_delay: Duration::from_secs(1),
        }
    }
}

/// How the batch request as a whole was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOutcome<'a> {
    /// The HTTP status of the batch response.
    pub status: u16,
    /// Its `Retry-After` header, if any.
    pub retry_after: Option<&'a [u8]>,
    /// The time now, for a `Retry-After` that is a date (the function reads no clock).
    pub now: SystemTime,
    /// Which send this was: 1 for the first.
    pub attempt: u32,
}

/// The batch to send next, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// The operations to send again, with their ids as they were, and changesets whole.
    pub batch: BatchRequest,
    /// For each of its operations, its position among the operations of the batch that was
    /// answered: the final answers pair back to the original requests through it.
    pub original: Vec<usize>,
    /// How long to wait before sending it.
    pub delay: Duration,
}

/// The seconds `Retry-After` asks for: delay-seconds, or an IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`) measured from `now`. `None` when it is neither.
pub fn retry_after(value: &[u8], now: SystemTime) -> Option<Duration> {
    let v = core::str::from_utf8(value).ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = imf_fixdate(v)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// Seconds since the epoch of an IMF-fixdate (RFC 9110, section 5.6.7).
fn imf_fixdate(v: &str) -> Option<u64> {
    let mut w = v.split(' ');
    let (_day, d, mon, y, hms, gmt) = (
        w.next()?,
        w.next()?,
        w.next()?,
        w.next()?,
        w.next()?,
        w.next()?,
    );
    if gmt != "GMT" || w.next().is_some() || d.len() != 2 || y.len() != 4 {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|&x| x == mon)? as i64 + 1;
    let (d, y): (i64, i64) = (d.parse().ok()?, y.parse().ok()?);
    let mut t = hms
        .split(':')
        .map(|p| p.parse::<i64>().ok().filter(|_| p.len() == 2));
    let (h, mi, s) = (t.next()??, t.next()??, t.next()??);
    if t.next().is_some() || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + s).ok()
}

/// The batch to send next after `responses` answered `requests`, or `None` when nothing is
/// left to retry or the attempts are spent.
///
/// - An operation is retried when its status is one of the policy's, or when it failed with
///   `424` only because it depends (by `dependsOn` or a `$<content-id>` reference) on one
///   that is retried. Operations that never ran because the batch stopped after a retried
///   failure are sent again too.
/// - A changeset or atomicity group is resent whole: it succeeds or fails as one.
/// - When the batch itself was answered with one of the policy's statuses, all of it is
///   resent.
/// - The delay is the longest `Retry-After` among the retried answers and the batch's
///   (seconds or an HTTP date), at most [`RetryPolicy::max_delay`]; without one,
///   [`RetryPolicy::base_delay`] doubled per attempt.
/// - Ids and Content-IDs are kept, so the final answers pair back to the original requests.
///
/// No I/O and no sleeping: the caller sends and waits.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use batchpart::batch::{retry, Batch, BatchOutcome, Item, RequestOp, ResponseOp, RetryPolicy};
/// let requests = Batch { items: vec![
///     Item::Op(RequestOp::new("GET", "/a").with_content_id("1")),
///     Item::Op(RequestOp::new("GET", "/b").with_content_id("2")),
/// ]};
/// let responses = Batch { items: vec![
///     Item::Op(ResponseOp::new(200).with_content_id("1")),
///     Item::Op(ResponseOp::new(429).with_content_id("2").with_header("Retry-After", "7")),
/// ]};
/// let outcome = BatchOutcome { status: 200, retry_after: None, now: SystemTime::now(), attempt: 1 };
/// let next = retry(&requests, &responses, outcome, &RetryPolicy::default()).unwrap();
/// assert_eq!(next.original, [1]);
/// assert_eq!(next.delay, Duration::from_secs(7));
/// ```
pub fn retry(
    requests: &BatchRequest,
    responses: &BatchResponse,
    outcome: BatchOutcome<'_>,
    policy: &RetryPolicy,
) -> Option<Retry> {
    if outcome.attempt >= policy.max_attempts {
        return None;
    }
    let retryable = |s: u16| policy.statuses.contains(&s);
    // One flag per item, not per operation: an empty changeset has no operation to mark.
    let mut marked = vec![false; requests.items.len()];
    let mut waits: Vec<Duration> = outcome
        .retry_after
        .and_then(|v| retry_after(v, outcome.now))
        .into_iter()
        .collect();
    if retryable(outcome.status) {
        marked.iter_mut().for_each(|m| *m = true);
    } else {
        let c = correlate(requests, responses);
        let mut stopped = false;
        // Ids and groups retried so far, for 424s that depend on them.
        let mut again: HashSet<String> = HashSet::new();
        let mut start = 0;
        for (index, item) in requests.items.iter().enumerate() {
            let n = item.ops().len();
            let pairs = c.pairs.get(start..start + n).unwrap_or_default();
            let mut hit = false;
            for p in pairs {
                let op = p.request.1;
                hit |= match p.response {
                    Some((_, r)) if retryable(r.status) => {
                        waits.extend(
                            r.headers
                                .get("retry-after")
                                .and_then(|v| retry_after(v, outcome.now)),
                        );
                        true
                    }
                    Some((_, r)) if r.status == 424 => op
                        .depends_on
                        .iter()
                        .map(String::as_str)
                        .chain(references_of(op))
                        .any(|d| again.contains(d)),
                    Some(_) => false,
                    // Never ran, because the batch stopped after a failure to retry.
                    None => stopped && matches!(item, Item::Op(_)),
                };
            }
            // A changeset that never ran, because the batch stopped before it.
            if matches!(item, Item::Changeset(_)) {
                hit |= stopped && pairs.iter().all(|p| p.response.is_none());
            }
            if hit {
                stopped = true;
                marked[index] = true;
                if let Item::Changeset(cs) = item {
                    again.extend(cs.id.clone());
                }
                for op in item.ops() {
                    again.extend(
                        op.content_id
                            .as_deref()
                            .map(|i| normalize_content_id(i).to_string()),
                    );
                }
            }
            start += n;
        }
    }
    if !marked.contains(&true) {
        return None;
    }
    let mut items = Vec::new();
    let mut original = Vec::new();
    let mut start = 0;
    for (item, &marked) in requests.items.iter().zip(&marked) {
        let n = item.ops().len();
        if marked {
            items.push(item.clone());
            original.extend(start..start + n);
        }
        start += n;
    }
    let delay = waits.into_iter().max().unwrap_or_else(|| {
        let doublings = outcome.attempt.saturating_sub(1).min(16);
        policy.base_delay.saturating_mul(1 << doublings)
    });
    Some(Retry {
        batch: Batch { items },
        original,
        delay: delay.min(policy.max_delay),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        let epoch = UNIX_EPOCH;
        assert_eq!(
            imf_fixdate("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(imf_fixdate("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            imf_fixdate("Tue, 01 Dec 2026 08:00:00 GMT"),
            Some(1_796_112_000)
        );
        assert_eq!(imf_fixdate("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(imf_fixdate("Sun, 06 Nov 1994 08:49:37 UTC"), None);
        assert_eq!(retry_after(b"120", epoch), Some(Duration::from_secs(120)));
        let now = epoch + Duration::from_secs(784_111_770);
        assert_eq!(
            retry_after(b"Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(7))
        );
        // A date in the past: no wait.
        assert_eq!(
            retry_after(b"Thu, 01 Jan 1970 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(b"soon", now), None);
    }
}
