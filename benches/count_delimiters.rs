//! `count_delimiters`: the whole-process baseline of `BENCHMARKS.md`. Reads a file in 64 KiB
//! chunks and counts `CRLF--BOUNDARY` with one `memmem::Finder`, built once, carrying a
//! delimiter's length less one across chunk edges: what any reader of the file must at least
//! do. `inspect --summary` is measured against it (`benches/process.py`).
//!
//! ```text
//! cargo bench --bench count_delimiters --no-run  # then run the built binary: BOUNDARY FILE
//! ```

use std::io::Read;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [boundary, file] = args.as_slice() else {
        eprintln!("usage: count_delimiters BOUNDARY FILE");
        return std::process::ExitCode::from(2);
    };
    let needle = format!("\r\n--{boundary}");
    let finder = memchr::memmem::Finder::new(needle.as_bytes());
    let keep = needle.len() - 1;
    let mut f = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {file}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut buf = vec![0u8; keep + 64 * 1024];
    let mut have = 0;
    let mut n = 0u64;
    loop {
        let got = match f.read(&mut buf[have..]) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) => {
                eprintln!("error: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let end = have + got;
        n += finder.find_iter(&buf[..end]).count() as u64;
        // Keep the tail that could begin a delimiter the next read completes.
        let tail = end.saturating_sub(keep);
        buf.copy_within(tail..end, 0);
        have = end - tail;
    }
    println!("{n}");
    std::process::ExitCode::SUCCESS
}
