//! `batchpart`: the crate's command-line tool (feature `cli`).
//!
//! ```text
//! batchpart inspect [--content-type CT | --boundary B] [--chunk N] [--strict] [--opaque] ...
//! batchpart compose [FILE|-]
//! batchpart batch parse|split ...
//! batchpart server [ADDR] ...
//! ```
//!
//! Each subcommand's options and output are documented in its module and in the README. One
//! exit-code rule holds for all of them: 0 success; 1 invalid input or a failed operation
//! (one line on stderr, `error: ...`); 2 a usage error (an unknown subcommand or option, an
//! option without its value or with a value it does not take: `error: ...`, then the usage).

mod batch;
mod compose;
mod inspect;
mod latin1;
mod ready;
mod send;
mod server;

use std::process::ExitCode;

const USAGE: &str = "usage: batchpart inspect|compose|batch|server [OPTIONS]
  inspect  decode a multipart body and print its structure as JSON
  compose  encode a multipart body from the JSON tree inspect prints
  batch    parse a batch (batch parse), split a workload (batch split), or send it (batch send)
  server   serve batches over an in-memory store on loopback";

/// How a subcommand failed: the exit code and the line on stderr follow from it.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Exit 2: the arguments are wrong. The usage follows the message.
    Usage(String, &'static str),
    /// Exit 1: the input is invalid, or an operation failed.
    Input(String),
}

impl Failure {
    /// Prints the failure and returns its exit code.
    pub(crate) fn exit(self) -> ExitCode {
        match self {
            Failure::Usage(msg, usage) => {
                eprintln!("error: {msg}");
                eprintln!("{usage}");
                ExitCode::from(2)
            }
            Failure::Input(msg) => {
                eprintln!("error: {msg}");
                ExitCode::from(1)
            }
        }
    }
}

impl From<String> for Failure {
    fn from(msg: String) -> Self {
        Failure::Input(msg)
    }
}

impl From<batchpart::batch::BatchError> for Failure {
    fn from(e: batchpart::batch::BatchError) -> Self {
        Failure::Input(e.to_string())
    }
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        return Failure::Usage("a subcommand is needed".into(), USAGE).exit();
    }
    let cmd = args.remove(0);
    match cmd.as_str() {
        "inspect" => inspect::main(args),
        "compose" => compose::main(args),
        "batch" => batch::main(args),
        "server" => server::main(args),
        "--help" | "-h" | "help" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        "--version" | "-V" => {
            println!("batchpart {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        other => Failure::Usage(format!("no subcommand {other}"), USAGE).exit(),
    }
}
