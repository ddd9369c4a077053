//! Against a server someone else wrote: Azurite (npm `azurite`, pinned in
//! `tests/field/azurite/package.json`, installed by `.ci/run` with `npm ci`), Azure Storage's
//! emulator, with its Blob Batch endpoint and SharedKey checked on the outer request and on
//! every subrequest. Started on a loopback port and stopped by its process id.
//!
//! The port of object_store's bulk delete (`examples/azure_blob_delete.rs`) deletes blobs or
//! sets their tier; the Azure SDK for Python (`azure-storage-blob`, pinned beside it) sets
//! them up, lists what is left, and runs its own `delete_blobs` and
//! `set_standard_blob_tier_blobs` on the same blobs for the statuses to compare. Table
//! transactions go through `batchpart batch send`, checked with `azure-data-tables`.
#![cfg(all(feature = "batch", feature = "json", not(fuzzing)))]

mod common;

use std::path::PathBuf;
use std::process::Command;

#[cfg(feature = "cli")]
use batchpart::batch::ResponseOp;
use common::field::{self, Server};

const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/field/azurite")
}

/// Starts one of Azurite's services (`blob`, `table`) on a free loopback port, or says why it
/// cannot (and fails under `CI=true`) when it or the SDK `module` is missing.
fn start_service(service: &str, module: &str) -> Option<Server> {
    let main = dir().join(format!("node_modules/azurite/dist/src/{service}/main.js"));
    if !main.exists() || !field::python_has(module) {
        common::skip(&format!(
            "Azurite or {module} is not installed: see tests/field/azurite"
        ));
        return None;
    }
    let port = field::free_port();
    // Without --disableTelemetry it reaches for the network.
    let mut cmd = Command::new("node");
    cmd.arg(main)
        .args(["--inMemoryPersistence", "--disableTelemetry", "--loose"])
        .args(["--skipApiVersionCheck", "--silent"])
        .args([format!("--{service}Host"), "127.0.0.1".into()])
        .args([format!("--{service}Port"), port.to_string()])
        .current_dir(dir());
    Some(field::spawn(&mut cmd, port))
}

/// Azurite's Blob service.
fn start() -> Option<Server> {
    start_service("blob", "azure.storage.blob")
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
    let names = blobs
        .iter()
        .enumerate()
        .filter(|(i, b)| !b.starts_with("--") && (*i == 0 || blobs[i - 1] != "--tier"));
    assert_eq!(lines.len(), names.clone().count());
    for (l, (_, b)) in lines.iter().zip(names) {
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
fn set_tier_reports_what_the_azure_sdk_reports() {
    let Some(az) = start() else { return };
    let blobs = ["a", "missing", "dir/c d"];
    sdk(&az, "setup", "ours", &["a", "dir/c d"]);
    let mut args = vec!["--tier", "Cool"];
    args.extend_from_slice(&blobs);
    let (code, ours, err) = port(&az, KEY, "ours", &args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(ours, [200, 404, 200]);
    assert_eq!(sdk(&az, "tiers", "ours", &[]), ["a Cool", "dir/c d Cool"]);
    sdk(&az, "setup", "theirs", &["a", "dir/c d"]);
    let mut args = vec!["Cool"];
    args.extend_from_slice(&blobs);
    let theirs: Vec<u64> = sdk(&az, "tier", "theirs", &args)
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(ours, theirs);
    assert_eq!(sdk(&az, "tiers", "theirs", &[]), ["a Cool", "dir/c d Cool"]);
}

#[test]
fn a_batch_mixing_delete_and_set_tier_is_refused_before_it_is_sent() {
    let Some(az) = start() else { return };
    sdk(&az, "setup", "mixed", &["x", "y"]);
    // Azure takes one kind of subrequest per batch; the writer refuses the mix, so nothing
    // is sent, and every blob of the batch carries the failure.
    let (code, statuses, err) = port(&az, KEY, "mixed", &["x", "--tier", "Cool", "y"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(statuses, [0, 0], "{err}");
    assert!(err.contains("one kind only"), "{err}");
    assert_eq!(sdk(&az, "tiers", "mixed", &[]), ["x Hot", "y Hot"]);
}

#[test]
fn a_mixed_batch_sent_by_the_sdk_is_answered_whole_and_read_as_one() {
    use base64::Engine;
    use batchpart::batch::azure_blob;
    let Some(az) = start() else { return };
    sdk(&az, "setup", "mixed", &["x", "y"]);
    // The SDK's batch machinery sends a delete and a set-tier together; Azurite answers 202
    // with one part without a Content-ID (Azure's AllBatchSubRequestsShouldBeSameApi; Azurite
    // says InvalidInput).
    let out = sdk(&az, "mixed", "mixed", &["x", "y"]);
    let [status, ct, body] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(status, "202");
    let body = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let answer = azure_blob::read_response(body.into(), ct.as_bytes()).unwrap();
    let whole = azure_blob::whole_batch_error(&answer).expect("a batch refused whole");
    assert_eq!(whole.status, 400);
    assert!(String::from_utf8_lossy(&whole.body).contains("<Code>InvalidInput</Code>"));
    assert_eq!(sdk(&az, "tiers", "mixed", &[]), ["x Hot", "y Hot"]);
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

// Table entity-group transactions: sent by `batchpart batch send --dialect azure-table` under
// an account SAS (a Table batch authenticates the outer request only), checked through
// azure-data-tables, whose `submit_transaction` runs the same transactions for comparison.

/// Azurite's Table service.
#[cfg(feature = "cli")]
fn start_table() -> Option<Server> {
    start_service("table", "azure.data.tables")
}

/// The Table SDK script: its stdout lines.
#[cfg(feature = "cli")]
fn sdk_table(az: &Server, args: &[&str]) -> Vec<String> {
    let port = az.1.to_string();
    let mut all = vec!["tests/field/azurite/sdk_table.py", args[0], port.as_str()];
    all.extend_from_slice(&args[1..]);
    let (code, out, err) = common::run(std::path::Path::new("python3"), &all, None);
    assert_eq!(code, 0, "{err}");
    out.lines().map(str::to_string).collect()
}

/// One transaction of inserts into `table`, partition `pk`, one per row key, sent by the
/// tool: the exit code and each operation's answer.
#[cfg(feature = "cli")]
fn insert_with_tool(az: &Server, table: &str, pk: &str, rks: &[&str]) -> (i32, Vec<ResponseOp>) {
    let base = format!("http://127.0.0.1:{}/devstoreaccount1", az.1);
    let requests: Vec<serde_json::Value> = rks
        .iter()
        .enumerate()
        .map(|(i, rk)| {
            serde_json::json!({"id": (i + 1).to_string(), "method": "POST",
                "url": format!("{base}/{table}"),
                "headers": {"content-type": "application/json",
                            "accept": "application/json;odata=nometadata",
                            "prefer": "return-no-content"},
                "body": {"PartitionKey": pk, "RowKey": rk, "value": "ours"}})
        })
        .collect();
    let work = serde_json::json!({ "requests": requests }).to_string();
    let sas = sdk_table(az, &["sas"]).remove(0);
    let url = format!("{base}/$batch?{sas}");
    let args = [
        "batch",
        "send",
        "--dialect",
        "azure-table",
        "--header",
        "x-ms-version: 2019-02-02",
        "--header",
        "DataServiceVersion: 3.0",
        url.as_str(),
        "-",
    ];
    let (code, out, err) = common::run(&common::batchpart(), &args, Some(work.as_bytes()));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    let answers = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            ResponseOp::new(r["status"].as_u64().unwrap() as u16)
                .with_body(r["body"].as_str().unwrap().to_string())
        })
        .collect();
    (code, answers)
}

#[cfg(feature = "cli")]
fn rows(az: &Server, table: &str, pk: &str) -> Vec<String> {
    let mut rows: Vec<String> = sdk_table(az, &["list", table])
        .into_iter()
        .filter(|l| l.starts_with(&format!("{pk} ")))
        .collect();
    rows.sort();
    rows
}

#[cfg(feature = "cli")]
#[test]
fn a_table_transaction_commits_as_the_sdks_does() {
    let Some(az) = start_table() else { return };
    sdk_table(&az, &["setup", "books"]);
    let (code, answers) = insert_with_tool(&az, "books", "ours", &["a", "b", "c"]);
    assert_eq!(code, 0);
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [204, 204, 204]);
    assert_eq!(
        rows(&az, "books", "ours"),
        ["ours a ours", "ours b ours", "ours c ours"]
    );
    // The SDK's transaction of the same shape commits too.
    assert_eq!(
        sdk_table(&az, &["submit", "books", "theirs", "a", "b", "c"]),
        ["ok 3"]
    );
    assert_eq!(rows(&az, "books", "theirs").len(), 3);
}

#[cfg(feature = "cli")]
#[test]
fn a_duplicate_key_rolls_the_transaction_back_and_names_the_operation_as_the_sdk_does() {
    use batchpart::batch::azure_table::failed_index;
    let Some(az) = start_table() else { return };
    sdk_table(&az, &["setup", "books"]);
    for pk in ["ours", "theirs"] {
        sdk_table(&az, &["submit", "books", pk, "a"]);
    }
    // The second insert repeats row `a`: the service undoes the first, `n`.
    let (code, answers) = insert_with_tool(&az, "books", "ours", &["n", "a", "m"]);
    assert_eq!(code, 0, "the batch was answered");
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses,
        [409, 409, 409],
        "one error answers the transaction"
    );
    let ours = failed_index(&answers[0]);
    assert_eq!(ours, Some(1));
    assert_eq!(rows(&az, "books", "ours"), ["ours a sdk"]);
    let theirs = sdk_table(&az, &["submit", "books", "theirs", "n", "a", "m"]);
    assert_eq!(theirs, [format!("failed {} 409", ours.unwrap())]);
    assert_eq!(rows(&az, "books", "theirs"), ["theirs a sdk"]);
}
