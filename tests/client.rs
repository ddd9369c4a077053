//! The client half: splitting a workload into batches, and retrying what failed.
#![cfg(all(feature = "batch", feature = "json"))]

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use batchpart::batch::{
    retry, split, write_json, write_multipart, Batch, BatchErrorKind, BatchOutcome, BatchRequest,
    Changeset, Item, RequestOp, ResponseOp, RetryPolicy, SplitLimits, Wire,
};
use proptest::prelude::*;

const BOUNDARY: &[u8] = b"batch_00000000000000000000000000000000";

fn op(id: usize, deps: Vec<usize>, body: usize) -> RequestOp {
    let mut op = RequestOp::new("POST", format!("/items/{id}"))
        .with_content_id(format!("o{id}"))
        .with_header("Content-Type", "application/json")
        .with_body(format!("{{\"pad\":\"{}\"}}", "x".repeat(body)));
    op.depends_on = deps.into_iter().map(|d| format!("o{d}")).collect();
    op
}

/// A workload: items of one op or a changeset, ops that depend on earlier ones.
fn workload() -> impl Strategy<Value = BatchRequest> {
    prop::collection::vec(
        (
            1usize..4,
            prop::bool::weighted(0.2),
            prop::collection::vec(any::<prop::sample::Index>(), 0..2),
            0usize..120,
        ),
        1..30,
    )
    .prop_map(|specs| {
        let mut n = 0;
        let mut items = Vec::new();
        for (k, (size, group, deps, body)) in specs.into_iter().enumerate() {
            let mut ops = Vec::new();
            for _ in 0..if group { size } else { 1 } {
                let d = deps
                    .iter()
                    .filter(|_| n > 0)
                    .map(|i| i.index(n))
                    .collect::<HashSet<_>>()
                    .into_iter()
                    .collect();
                ops.push(op(n, d, body));
                n += 1;
            }
            items.push(if group {
                Item::Changeset(Changeset {
                    id: Some(format!("g{k}")),
                    ops,
                })
            } else {
                Item::Op(ops.pop().unwrap())
            });
        }
        Batch { items }
    })
}

fn written_len(b: &BatchRequest, wire: Wire) -> u64 {
    match wire {
        Wire::Multipart => write_multipart(b, BOUNDARY).unwrap().1.len() as u64,
        Wire::Json => write_json(b).unwrap().len() as u64,
    }
}

/// The groups that must share a batch, found independently: items linked by dependsOn.
fn components(work: &BatchRequest) -> Vec<Vec<usize>> {
    let item_of: HashMap<String, usize> = work
        .items
        .iter()
        .enumerate()
        .flat_map(|(i, it)| {
            it.ops()
                .iter()
                .map(move |o| (o.content_id.as_deref().unwrap().to_string(), i))
        })
        .collect();
    let mut comp: Vec<usize> = (0..work.items.len()).collect();
    let mut changed = true;
    while changed {
        changed = false;
        for (i, it) in work.items.iter().enumerate() {
            for o in it.ops() {
                for d in &o.depends_on {
                    let j = item_of[d];
                    let m = comp[i].min(comp[j]);
                    if comp[i] != m || comp[j] != m {
                        let (a, b) = (comp[i], comp[j]);
                        for c in comp.iter_mut() {
                            if *c == a || *c == b {
                                *c = m;
                            }
                        }
                        changed = true;
                    }
                }
            }
        }
    }
    let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, c) in comp.into_iter().enumerate() {
        groups.entry(c).or_default().push(i);
    }
    groups.into_values().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Every workload either splits into batches that meet every limit and keep every chain
    /// and group whole, in order, or fails naming a chain that cannot fit.
    #[test]
    fn splits_meet_every_limit_or_name_the_chain(
        work in workload(),
        max_ops in 1usize..12,
        max_bytes in 200u64..4000,
        json in any::<bool>(),
    ) {
        let wire = if json { Wire::Json } else { Wire::Multipart };
        let limits = SplitLimits::default().with_max_operations(max_ops).with_max_batch_bytes(max_bytes).with_wire(wire).with_renumber(false);
        let comps = components(&work);
        let too_big: Vec<&Vec<usize>> = comps
            .iter()
            .filter(|c| {
                let b = Batch { items: c.iter().map(|&i| work.items[i].clone()).collect() };
                b.op_count() > max_ops || written_len(&b, wire) > max_bytes
            })
            .collect();
        match split(&work, limits) {
            Ok(plans) => {
                prop_assert!(too_big.is_empty(), "{} groups cannot fit, yet it split", too_big.len());
                let mut seen = Vec::new();
                let all: Vec<&RequestOp> = work.items.iter().flat_map(|i| i.ops()).collect();
                for p in &plans {
                    prop_assert!(p.batch.op_count() <= max_ops);
                    prop_assert!(written_len(&p.batch, wire) <= max_bytes,
                        "{} > {max_bytes}", written_len(&p.batch, wire));
                    let pos: Vec<usize> = p.original.iter().map(|o| o.0).collect();
                    prop_assert!(pos.windows(2).all(|w| w[0] < w[1]), "order kept");
                    let here: HashSet<String> = p.batch.items.iter().flat_map(|i| i.ops())
                        .map(|o| o.content_id.as_deref().unwrap().to_string()).collect();
                    for o in p.batch.items.iter().flat_map(|i| i.ops()) {
                        for d in &o.depends_on {
                            prop_assert!(here.contains(d), "{d} is in another batch");
                        }
                    }
                    // Ids kept, and each op is the one it came from.
                    for (o, (k, id)) in p.batch.items.iter().flat_map(|i| i.ops()).zip(&p.original) {
                        prop_assert_eq!(o, all[*k]);
                        prop_assert_eq!(&o.content_id, id);
                    }
                    // Changesets whole.
                    for it in &p.batch.items {
                        prop_assert!(work.items.contains(it));
                    }
                    seen.extend(pos);
                }
                seen.sort_unstable();
                prop_assert_eq!(seen, (0..all.len()).collect::<Vec<_>>());
            }
            Err(e) => {
                prop_assert!(!too_big.is_empty(), "refused a workload that fits: {}", e);
                prop_assert!(matches!(e.kind(), BatchErrorKind::TooManyOperations | BatchErrorKind::BatchTooLarge));
                prop_assert!(e.to_string().contains("must share a batch"), "{}", e);
            }
        }
    }
}

#[test]
fn renumbering_maps_back_and_rewrites_references() {
    let mut second = RequestOp::new("PATCH", "$a/Name").with_content_id("b");
    second.headers.push("If-Match", "$a");
    let work = Batch {
        items: vec![
            Item::Op(RequestOp::new("POST", "/x").with_content_id("a")),
            Item::Op(second),
            Item::Op(RequestOp::new("DELETE", "/y").with_content_id("c")),
        ],
    };
    let limits = SplitLimits::default()
        .with_max_operations(2)
        .with_renumber(true);
    let plans = split(&work, limits).unwrap();
    assert_eq!(plans.len(), 2);
    let first: Vec<&RequestOp> = plans[0].batch.items.iter().flat_map(|i| i.ops()).collect();
    assert_eq!(first[0].content_id.as_deref(), Some("0"));
    assert_eq!(first[1].content_id.as_deref(), Some("1"));
    assert_eq!(first[1].url, "$0/Name");
    assert_eq!(first[1].headers.get("if-match"), Some(&b"$0"[..]));
    assert_eq!(
        plans[0].original,
        [(0, Some("a".into())), (1, Some("b".into()))]
    );
    assert_eq!(
        plans[1].batch.items[0].ops()[0].content_id.as_deref(),
        Some("0")
    );
    assert_eq!(plans[1].original, [(2, Some("c".into()))]);
}

fn resp(id: &str, status: u16) -> Item<ResponseOp> {
    Item::Op(ResponseOp::new(status).with_content_id(id))
}

fn outcome(attempt: u32) -> BatchOutcome<'static> {
    BatchOutcome {
        status: 200,
        retry_after: None,
        now: SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_770),
        attempt,
    }
}

#[test]
fn retry_carries_only_what_failed_and_what_depended_on_it() {
    let mut dep_c = RequestOp::new("GET", "/d").with_content_id("d");
    dep_c.depends_on = vec!["c".into()];
    let mut dep_e = RequestOp::new("GET", "/f").with_content_id("f");
    dep_e.depends_on = vec!["e".into()];
    let requests = Batch {
        items: vec![
            Item::Op(RequestOp::new("GET", "/a").with_content_id("a")),
            Item::Op(RequestOp::new("GET", "/b").with_content_id("b")),
            Item::Op(RequestOp::new("GET", "/c").with_content_id("c")),
            Item::Op(dep_c),
            Item::Op(RequestOp::new("GET", "/e").with_content_id("e")),
            Item::Op(dep_e),
            Item::Changeset(Changeset {
                id: Some("g".into()),
                ops: vec![
                    RequestOp::new("POST", "/g1").with_content_id("g1"),
                    RequestOp::new("POST", "/g2").with_content_id("g2"),
                ],
            }),
        ],
    };
    let mut b = ResponseOp::new(429).with_content_id("b");
    b.headers
        .push("Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT"); // 7 s from `now`
    let responses = Batch {
        items: vec![
            resp("a", 200),
            Item::Op(b),
            resp("c", 503),
            resp("d", 424),
            resp("e", 404),
            resp("f", 424),
            // The changeset failed as one, on its second member, retryably.
            resp("g2", 502),
        ],
    };
    let policy = RetryPolicy::default();
    let next = retry(&requests, &responses, outcome(1), &policy).unwrap();
    let ids: Vec<&str> = next
        .batch
        .items
        .iter()
        .flat_map(|i| i.ops())
        .map(|o| o.content_id.as_deref().unwrap())
        .collect();
    assert_eq!(ids, ["b", "c", "d", "g1", "g2"]);
    assert_eq!(next.original, [1, 2, 3, 6, 7]);
    assert_eq!(next.delay, Duration::from_secs(7));
    // The attempts are spent.
    assert!(retry(&requests, &responses, outcome(4), &policy).is_none());
    // Nothing retryable: nothing to do.
    let fine = Batch {
        items: vec![resp("a", 200), resp("b", 404)],
    };
    let two = Batch {
        items: requests.items[..2].to_vec(),
    };
    assert!(retry(&two, &fine, outcome(1), &policy).is_none());
}

#[test]
fn a_batch_refused_whole_is_resent_whole_and_the_wait_is_capped() {
    let requests = Batch {
        items: vec![
            Item::Op(RequestOp::new("GET", "/a").with_content_id("a")),
            Item::Op(RequestOp::new("GET", "/b").with_content_id("b")),
        ],
    };
    let policy = RetryPolicy::default().with_max_delay(Duration::from_secs(30));
    let whole = BatchOutcome {
        status: 503,
        retry_after: Some(b"3600"),
        ..outcome(1)
    };
    let next = retry(&requests, &Batch::default(), whole, &policy).unwrap();
    assert_eq!(next.batch, requests);
    assert_eq!(next.delay, Duration::from_secs(30));
    // Stopped after a retryable failure: what never ran goes again; without Retry-After the
    // wait doubles per attempt.
    let stopped = Batch {
        items: vec![resp("a", 503)],
    };
    let next = retry(&requests, &stopped, outcome(3), &policy).unwrap();
    assert_eq!(next.original, [0, 1]);
    assert_eq!(next.delay, Duration::from_secs(4));
}

#[test]
fn an_empty_changeset_is_planned_without_a_panic() {
    use batchpart::batch::read_multipart;
    // The multipart reader yields empty changesets; the planner sees them as they came.
    let sent: BatchRequest = read_multipart(
        bytes::Bytes::from_static(
            b"--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n--cs--\r\n\
              --b\r\nContent-Type: application/http\r\nContent-ID: a\r\n\r\nGET /a HTTP/1.1\r\n\r\n\r\n\
              --b\r\nContent-Type: multipart/mixed; boundary=ct\r\n\r\n--ct--\r\n--b--",
        ),
        b"multipart/mixed; boundary=b",
        None,
    )
    .unwrap();
    assert!(matches!(&sent.items[0], Item::Changeset(c) if c.ops.is_empty()));
    let policy = RetryPolicy::default();
    let next = retry(
        &sent,
        &Batch {
            items: vec![resp("a", 503)],
        },
        outcome(1),
        &policy,
    )
    .unwrap();
    let ids: Vec<&str> = next
        .batch
        .items
        .iter()
        .flat_map(|i| i.ops())
        .map(|o| o.content_id.as_deref().unwrap())
        .collect();
    assert_eq!(ids, ["a"]);
    assert_eq!(next.original, [0]);
    // Refused whole: everything goes again, the empty changesets too, as sent.
    let whole = BatchOutcome {
        status: 503,
        ..outcome(1)
    };
    let next = retry(&sent, &Batch::default(), whole, &policy).unwrap();
    assert_eq!(next.batch, sent);
    // Nothing failed: nothing to plan.
    let fine = Batch {
        items: vec![resp("a", 200)],
    };
    assert!(retry(&sent, &fine, outcome(1), &policy).is_none());
}
