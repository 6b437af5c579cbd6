//! What dockerd (or anything pretending to be it) sends: arbitrary frames
//! into the line framer. Must never panic, and lines stay within the bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use labtail_logs::{Frame, Framer};
use labtail_logs::Stream;

fuzz_target!(|data: &[u8]| {
    let mut framer = Framer::new(64);
    let mut out = Vec::new();
    // The first byte picks stream and chunk size; the rest is the payload.
    let Some((&ctl, rest)) = data.split_first() else { return };
    let stream = [Stream::Stdout, Stream::Stderr, Stream::Console][usize::from(ctl % 3)];
    let chunk = usize::from(ctl / 3).max(1);
    for piece in rest.chunks(chunk) {
        framer.push(
            &Frame { stream, bytes: bytes_of(piece) },
            &mut out,
        );
    }
    framer.flush(&mut out);
    for l in &out {
        assert!(l.text.len() <= 64 * 3 + 3, "a line is bounded");
    }
});

fn bytes_of(piece: &[u8]) -> labtail_logs::Bytes {
    labtail_logs::Bytes::copy_from_slice(piece)
}
