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
