//! The client loop example against its mock: build, split, send, pair, retry, with every path
//! of the loop taken (a 429 with Retry-After, a 503 without, a 424 after a failed dependency).
#![cfg(all(
    feature = "batch",
    feature = "json",
    feature = "http",
    feature = "tower"
))]
mod common;

#[test]
fn every_operation_ends_answered_after_the_retries() {
    let (code, out, err) = common::run_example("client_loop", &[], None);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let (ops, summary) = lines.split_at(lines.len() - 1);
    assert_eq!(ops.len(), 30);
    for line in ops {
        let f: Vec<&str> = line.split(' ').collect();
        let (id, status, attempts): (u32, &str, u32) =
            (f[0].parse().unwrap(), f[1], f[2].parse().unwrap());
        assert_eq!(status, "200", "{line}");
        // Those the mock refused once, and those that depended on one, took two sends.
        let expect = if matches!(id % 10, 3 | 7 | 8) { 2 } else { 1 };
        assert_eq!(attempts, expect, "{line}");
    }
    assert_eq!(
        summary[0],
        "done: 30 operations, 30 succeeded; answered 429: 3, 503: 3, 424: 3; sends: 6"
    );
}
