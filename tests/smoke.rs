mod common;
use batchpart::Config;
use common::*;

#[test]
fn simple() {
    let evs = decode_all_ways(
        b"pre\r\n--b\r\nA: 1\r\n\r\nhello\r\n--b\r\n\r\nworld\r\n--b--\r\nepi",
        b"b",
        Config::default(),
    )
    .unwrap();
    println!("{evs:?}");
    assert_eq!(bodies(&evs), vec![b"hello".to_vec(), b"world".to_vec()]);
}

#[test]
fn debug_odata_response() {
    let data = std::fs::read("tests/fixtures/odata_response.txt").unwrap();
    println!(
        "whole {:?}",
        decode_with(&data, b"batchresponse_1", Config::default(), &[]).map(|v| v.len())
    );
    for split in 1..data.len() {
        let r = std::panic::catch_unwind(|| {
            decode_with(
                &data,
                b"batchresponse_1",
                Config::default(),
                &[split, data.len()],
            )
        });
        if r.is_err() {
            println!(
                "split {split} fails: {:?}",
                String::from_utf8_lossy(&data[split.saturating_sub(20)..split])
            );
            break;
        }
    }
}
