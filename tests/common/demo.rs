//! The demo server (`batchpart server`) on loopback, and one request to it over a fresh
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

#[cfg(feature = "cli")]
pub fn start() -> Server {
    start_with(&[], None)
}

/// Starts the server with these options, under `ulimit -n` when a limit is given.
#[cfg(feature = "cli")]
pub fn start_with(args: &[&str], open_files: Option<u32>) -> Server {
    let bin = super::batchpart();
    let mut cmd = match open_files {
        None => {
            let mut c = Command::new(bin);
            c.arg("server");
            c
        }
        Some(n) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                .arg(bin)
                .arg("server");
            c
        }
    };
    listening(cmd.arg("127.0.0.1:0").args(args))
}

/// Spawns a server that prints `listening on http://ADDR` first, and waits for that line.
pub fn listening(cmd: &mut Command) -> Server {
    let mut child = cmd
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
