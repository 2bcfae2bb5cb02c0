//! The floor of `trailrelay route`: the same line reading and buffered
//! writing as `route`, and per line only the floor's work (the envelope
//! read with the detail kept raw, the entry written with that detail as its
//! string, by `route`'s serializer, sonic-rs). `route`'s CPU time over this
//! one's is issue 19's first goal; `make bench` (benches/goals.py) runs both
//! on the same file.
//!
//!     route_floor FILE > /dev/null

#[path = "../benches/common/mod.rs"]
mod paths;

use std::io::{BufRead, BufReader, BufWriter, Write};

fn main() -> std::io::Result<()> {
    let path = std::env::args().nth(1).expect("usage: route_floor FILE");
    // The same buffer sizes as `trailrelay route` (cli/src/main.rs, `run`).
    let mut reader = BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut line_in = Vec::new();
    let mut line_out = Vec::with_capacity(16 * 1024);
    loop {
        line_in.clear();
        if reader.read_until(b'\n', &mut line_in)? == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&line_in);
        let line = line.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        line_out.clear();
        paths::with_floor_entry(line, |entry| sonic_rs::to_writer(&mut line_out, entry))
            .map_err(std::io::Error::other)?;
        line_out.push(b'\n');
        out.write_all(&line_out)?;
    }
    out.flush()
}
