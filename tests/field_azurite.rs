//! Against a server someone else wrote: Azurite (npm `azurite`, pinned in
//! `tests/field/azurite/package.json`, installed by `.ci/run` with `npm ci`), Azure Storage's
//! emulator, with its Blob Batch endpoint and SharedKey checked on the outer request and on
//! every subrequest. Started on a loopback port and stopped by its process id.
//!
//! The port of object_store's bulk delete (`examples/azure_blob_delete.rs`) deletes blobs;
//! the Azure SDK for Python (`azure-storage-blob`, pinned beside it) sets them up, lists what
//! is left, and runs its own `delete_blobs` on the same blobs for the statuses to compare.
#![cfg(all(feature = "batch", feature = "json", not(fuzzing)))]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::field::{self, Server};

const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/field/azurite")
}

/// Starts Azurite's Blob service on a free loopback port, or says why it cannot (and fails
/// under `CI=true`).
fn start() -> Option<Server> {
    let main = dir().join("node_modules/azurite/dist/src/blob/main.js");
    if !main.exists() || !field::python_has("azure.storage.blob") {
        common::skip("Azurite or azure-storage-blob is not installed: see tests/field/azurite");
        return None;
    }
    let port = field::free_port();
    // Without --disableTelemetry it reaches for the network.
    let mut cmd = Command::new("node");
    cmd.arg(main)
        .args(["--inMemoryPersistence", "--disableTelemetry", "--loose"])
        .args([
            "--skipApiVersionCheck",
            "--silent",
            "--blobHost",
            "127.0.0.1",
        ])
        .args(["--blobPort", &port.to_string()])
        .current_dir(dir());
    Some(field::spawn(&mut cmd, port))
}

/// The SDK script: its stdout lines.
fn sdk(az: &Server, cmd: &str, container: &str, blobs: &[&str]) -> Vec<String> {
    let port = az.1.to_string();
    let mut args = vec!["tests/field/azurite/sdk.py", cmd, port.as_str(), container];
    args.extend_from_slice(blobs);
    let (code, out, err) = common::run(std::path::Path::new("python3"), &args, None);
    assert_eq!(code, 0, "{err}");
    out.lines().map(str::to_string).collect()
}

/// The port: its exit code, and each line's status.
fn port(az: &Server, key: &str, container: &str, blobs: &[&str]) -> (i32, Vec<u64>, String) {
    let endpoint = format!("http://127.0.0.1:{}/devstoreaccount1", az.1);
    let mut args = vec![
        "--endpoint",
        endpoint.as_str(),
        "--account",
        "devstoreaccount1",
    ];
    args.extend(["--key", key, "--container", container]);
    args.extend_from_slice(blobs);
    let (code, out, err) = common::run(&common::example("azure_blob_delete"), &args, None);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (l, b) in lines.iter().zip(blobs) {
        assert_eq!(l["blob"], *b);
    }
    let statuses = lines
        .iter()
        .map(|l| l["status"].as_u64().unwrap())
        .collect();
    (code, statuses, err)
}

#[test]
fn deletes_report_what_the_azure_sdk_reports() {
    let Some(az) = start() else { return };
    let blobs = ["a", "missing", "dir/c d"];
    sdk(&az, "setup", "ours", &["a", "dir/c d"]);
    let (code, ours, err) = port(&az, KEY, "ours", &blobs);
    assert_eq!(code, 0, "{err}");
    assert_eq!(ours, [202, 404, 202]);
    assert!(sdk(&az, "list", "ours", &[]).is_empty());
    // The SDK's own batch on the same blobs, in a twin container.
    sdk(&az, "setup", "theirs", &["a", "dir/c d"]);
    let theirs: Vec<u64> = sdk(&az, "delete", "theirs", &blobs)
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(ours, theirs);
}

#[test]
fn three_hundred_deletes_go_in_two_batches() {
    let Some(az) = start() else { return };
    let names: Vec<String> = (0..300).map(|i| format!("b{i:03}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    sdk(&az, "setup", "many", &names);
    let (code, statuses, err) = port(&az, KEY, "many", &names);
    assert_eq!(code, 0, "{err}");
    assert_eq!(statuses.len(), 300);
    assert!(statuses.iter().all(|s| *s == 202));
    assert!(sdk(&az, "list", "many", &[]).is_empty());
}

#[test]
fn a_batch_refused_whole_is_reported_as_one() {
    let Some(az) = start() else { return };
    sdk(&az, "setup", "kept", &["x", "y"]);
    // Signed with another key: the batch is refused, every blob carries its status.
    let (code, statuses, err) = port(&az, "AAAA", "kept", &["x", "y"]);
    assert_eq!(code, 1);
    assert_eq!(statuses, [403, 403]);
    assert!(err.contains("failed as a whole: 403"), "{err}");
    assert_eq!(sdk(&az, "list", "kept", &[]), ["x", "y"]);
}
