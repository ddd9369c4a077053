//! The demo server (`examples/server`) on loopback, and one request to it over a fresh
//! connection with a real HTTP client (hyper's).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The running server (killed and reaped on drop) and its address.
pub struct Server(pub Child, pub String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start() -> Server {
    start_with(&[], None)
}

/// Starts the server with these options, under `ulimit -n` when a limit is given.
pub fn start_with(args: &[&str], open_files: Option<u32>) -> Server {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("server");
    assert!(
        bin.exists(),
        "examples/server was not built; run `cargo test --all-features`"
    );
    let mut cmd = match open_files {
        None => Command::new(bin),
        Some(n) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                .arg(bin);
            c
        }
    };
    let mut child = cmd
        .arg("127.0.0.1:0")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .expect("the server prints its address")
        .to_string();
    Server(child, addr)
}
