//! The Remote Serial Protocol codec: the one place that knows how packets look on the
//! wire.
//!
//! A packet is `$body#cs`, `cs` the sum of the body's bytes mod 256 in two hex digits.
//! Inside a body, `}` escapes the next byte (sent XOR 0x20), and in replies `X*N` stands
//! for `X` followed by `N - 29` more copies of `X` (run-length encoding; optional for the
//! sender). Everything that produces or takes apart packets uses this module: the
//! session's input [`Framer`], the replies the packet layer writes ([`PacketWriter`]),
//! console output, the fuzz harness and the benchmark client ([`decode_reply`]).
//!
//! Reference: "Debugging with GDB", appendix E.1 (Overview) and E.4 (binary data).

/// Hex digits, lower case as gdb sends them.
const HEX: &[u8; 16] = b"0123456789abcdef";

/// The two hex digits of every byte.
const PAIRS: [[u8; 2]; 256] = {
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [HEX[i >> 4], HEX[i & 15]];
        i += 1;
    }
    t
};

/// Longest run one `X*N` group covers: N = run + 28 must stay printable (≤ '~').
const MAX_RUN: usize = 98;

/// The checksum of a packet body.
pub fn checksum(body: &[u8]) -> u8 {
    body.iter().fold(0u8, |a, &b| a.wrapping_add(b))
}

/// Append `$body#cs`. `body` must already be escaped where the protocol asks for it.
pub fn put_packet(out: &mut Vec<u8>, body: &[u8]) {
    let mut w = PacketWriter::begin(out);
    w.raw(body);
    w.finish();
}

/// A packet with `body` as its complete bytes (a client's request, a test's input).
pub fn packet(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 4);
    put_packet(&mut out, body);
    out
}

/// Append a console-output (`O`) packet: gdb prints `text`.
pub fn put_console_output(out: &mut Vec<u8>, text: &str) {
    let mut w = PacketWriter::begin(out);
    w.raw(b"O");
    w.hex_plain(text.as_bytes());
    w.finish();
}

/// Builds one packet at the end of an output buffer; [`PacketWriter::finish`] adds the
/// checksum. Every reply the packet layer writes goes through one of these.
pub struct PacketWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Where the body starts in `out`.
    body: usize,
}

impl<'a> PacketWriter<'a> {
    /// Start a packet at the end of `out`.
    pub fn begin(out: &'a mut Vec<u8>) -> PacketWriter<'a> {
        out.push(b'$');
        let body = out.len();
        PacketWriter { out, body }
    }

    /// Bytes taken as they are (the caller guarantees they need no escaping).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// A number in hex, without leading zeros.
    pub fn hex_num(&mut self, n: u64) {
        let digits = (64 - n.leading_zeros()).div_ceil(4).max(1);
        for i in (0..digits).rev() {
            self.out.push(HEX[(n >> (4 * i)) as usize & 15]);
        }
    }

    /// An error reply body: `E` and the errno in two hex digits.
    pub fn error(&mut self, errno: u8) {
        self.out.push(b'E');
        self.out.extend_from_slice(&PAIRS[usize::from(errno)]);
    }

    /// Two hex digits per byte, no run-length encoding (for short values).
    pub fn hex_plain(&mut self, data: &[u8]) {
        for &b in data {
            self.out.extend_from_slice(&PAIRS[usize::from(b)]);
        }
    }

    /// A register value gdb must show as unavailable: `xx` per byte.
    pub fn unavailable(&mut self, bytes: usize) {
        self.out.extend(std::iter::repeat_n(b'x', 2 * bytes));
    }

    /// `data` in hex, runs of equal-digit bytes run-length encoded, in one pass. Zero
    /// pages shrink to a few hundred bytes, which also spares gdb most of their
    /// decoding; other repeats are sent as they are.
    ///
    /// Sixteen bytes at a time while none of them starts a run (a byte with two equal
    /// digits followed by the same byte): with SSE2 that is about one instruction a
    /// byte, a tenth of a table lookup per byte.
    pub fn hex(&mut self, data: &[u8]) {
        self.out.reserve(2 * data.len());
        let mut i = 0;
        while i < data.len() {
            if let Some(chunk) = data.get(i..i + 17) {
                let chunk: &[u8; 17] = chunk.try_into().unwrap_or(&[0; 17]);
                match hex16(chunk) {
                    Ok(digits) => {
                        self.out.extend_from_slice(&digits);
                        i += 16;
                        continue;
                    }
                    Err(plain) => {
                        // The bytes before the first run start, then that run.
                        self.hex_plain(&data[i..i + plain]);
                        i += plain;
                    }
                }
            }
            let b = data[i];
            let [hi, lo] = PAIRS[usize::from(b)];
            if hi == lo && data.get(i + 1) == Some(&b) {
                let mut j = i + 2;
                while j < data.len() && data[j] == b {
                    j += 1;
                }
                push_run(self.out, hi, 2 * (j - i));
                i = j;
            } else {
                self.out.extend_from_slice(&[hi, lo]);
                i += 1;
            }
        }
    }

    /// `data` as binary, with the bytes the protocol reserves escaped (`#`, `$`, `}`,
    /// and `*`, which a reply could otherwise start a run with). Never run-length
    /// encoded. Eight bytes are checked at a time and runs without a reserved byte are
    /// copied whole: bulk `x` replies cost about what hex `m` replies do.
    pub fn binary(&mut self, data: &[u8]) {
        self.out.reserve(data.len() + data.len() / 32 + 8);
        let mut copied = 0;
        let mut i = 0;
        while i < data.len() {
            if let Some(word) = data.get(i..i + 8) {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(word);
                if !has_reserved_byte(u64::from_le_bytes(bytes)) {
                    i += 8;
                    continue;
                }
            }
            let end = (i + 8).min(data.len());
            for (j, &b) in data.iter().enumerate().take(end).skip(i) {
                if is_reserved(b) {
                    self.out.extend_from_slice(&data[copied..j]);
                    self.out.extend_from_slice(&[b'}', b ^ 0x20]);
                    copied = j + 1;
                }
            }
            i = end;
        }
        self.out.extend_from_slice(&data[copied..]);
    }

    /// Drop the packet begun (the caller decided not to reply after all).
    pub fn cancel(self) {
        self.out.truncate(self.body - 1);
    }

    /// Close the packet with its checksum.
    pub fn finish(self) {
        let sum = checksum(&self.out[self.body..]);
        self.out.push(b'#');
        self.out.extend_from_slice(&PAIRS[usize::from(sum)]);
    }
}

/// Is `b` a byte binary data must escape?
#[inline]
fn is_reserved(b: u8) -> bool {
    matches!(b, b'#' | b'$' | b'}' | b'*')
}

/// Might any byte of `x` be reserved? (No false negatives; a false positive only costs
/// a byte-by-byte look at the word.)
#[inline]
fn has_reserved_byte(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let any = zero_byte(x ^ (ONES * u64::from(b'#')))
        | zero_byte(x ^ (ONES * u64::from(b'$')))
        | zero_byte(x ^ (ONES * u64::from(b'}')))
        | zero_byte(x ^ (ONES * u64::from(b'*')));
    any != 0
}

/// The hex of `chunk[..16]`, or, if one of those bytes starts a run (two equal digits,
/// and the next byte the same, `chunk[16]` being the one after the last), how many
/// bytes come before the first that does.
#[cfg(target_arch = "x86_64")]
#[inline]
fn hex16(chunk: &[u8; 17]) -> Result<[u8; 32], usize> {
    use std::arch::x86_64::*;
    let mut digits = [0u8; 32];
    // SAFETY: SSE2 is part of the x86_64 baseline, so every intrinsic is available; the
    // two loads read bytes 0..16 and 1..17 of the 17-byte `chunk` and the two stores
    // write bytes 0..16 and 16..32 of the 32-byte `digits` (unaligned forms).
    unsafe {
        let a = _mm_loadu_si128(chunk.as_ptr().cast());
        let next = _mm_loadu_si128(chunk.as_ptr().add(1).cast());
        let nibbles = _mm_set1_epi8(0x0f);
        let hi = _mm_and_si128(_mm_srli_epi16(a, 4), nibbles);
        let lo = _mm_and_si128(a, nibbles);
        let starts = _mm_and_si128(_mm_cmpeq_epi8(a, next), _mm_cmpeq_epi8(hi, lo));
        let mask = _mm_movemask_epi8(starts);
        if mask != 0 {
            return Err(mask.trailing_zeros() as usize);
        }
        // '0' + d, and 'a' - '0' - 10 = 39 more for d > 9.
        let ascii = |d: __m128i| {
            let letter = _mm_and_si128(_mm_cmpgt_epi8(d, _mm_set1_epi8(9)), _mm_set1_epi8(39));
            _mm_add_epi8(_mm_add_epi8(d, _mm_set1_epi8(b'0' as i8)), letter)
        };
        let (hi, lo) = (ascii(hi), ascii(lo));
        _mm_storeu_si128(digits.as_mut_ptr().cast(), _mm_unpacklo_epi8(hi, lo));
        _mm_storeu_si128(
            digits.as_mut_ptr().add(16).cast(),
            _mm_unpackhi_epi8(hi, lo),
        );
    }
    Ok(digits)
}

/// [`hex16`] without SIMD.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn hex16(chunk: &[u8; 17]) -> Result<[u8; 32], usize> {
    if let Some(k) = (0..16).find(|&k| chunk[k] == chunk[k + 1] && chunk[k] >> 4 == chunk[k] & 15) {
        return Err(k);
    }
    let mut digits = [0u8; 32];
    for (d, &b) in digits.chunks_exact_mut(2).zip(chunk) {
        d.copy_from_slice(&PAIRS[usize::from(b)]);
    }
    Ok(digits)
}

/// Append `len` (≥ 4) copies of `c` as `X*N` groups (N − 29 extra copies each): never
/// more than `len` bytes. Runs of 7 and 8 would need the count characters `#` and `$`,
/// which the protocol forbids: they go as 6 + the rest.
fn push_run(out: &mut Vec<u8>, c: u8, len: usize) {
    let mut left = len;
    while left > 3 {
        let n = match left.min(MAX_RUN) {
            7 | 8 => 6,
            n => n,
        };
        out.extend_from_slice(&[c, b'*', (n + 28) as u8]);
        left -= n;
    }
    out.extend(std::iter::repeat_n(c, left));
}

/// A hex number (as in `m addr,len`); `None` if empty, not hex, or over 64 bits.
pub fn parse_hex(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    u64::from_str_radix(text, 16).ok()
}

/// One part of a thread id: a number, "any" (`0`) or "all" (`-1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdPart {
    /// `0`: any thread (or process).
    Any,
    /// `-1`: all threads (or processes).
    All,
    /// A specific id.
    Id(u64),
}

/// A thread id as gdb writes it: `TID` or, with the multiprocess extension, `pPID.TID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadIdSpec {
    /// The process part, when given.
    pub pid: Option<IdPart>,
    /// The thread part (`pPID` alone means all its threads).
    pub tid: IdPart,
}

fn parse_id_part(s: &[u8]) -> Option<IdPart> {
    match s {
        b"-1" => Some(IdPart::All),
        _ => match parse_hex(s)? {
            0 => Some(IdPart::Any),
            n => Some(IdPart::Id(n)),
        },
    }
}

/// Parse a thread id (`N`, `0`, `-1`, `pP.T`, `pP`).
pub fn parse_thread_id(s: &[u8]) -> Option<ThreadIdSpec> {
    match s.strip_prefix(b"p") {
        Some(rest) => {
            let (pid, tid) = match rest.iter().position(|&b| b == b'.') {
                Some(dot) => (&rest[..dot], Some(&rest[dot + 1..])),
                None => (rest, None),
            };
            Some(ThreadIdSpec {
                pid: Some(parse_id_part(pid)?),
                tid: match tid {
                    Some(t) => parse_id_part(t)?,
                    None => IdPart::All,
                },
            })
        }
        None => Some(ThreadIdSpec {
            pid: None,
            tid: parse_id_part(s)?,
        }),
    }
}

/// Packet framing of the client's byte stream, in front of gdbstub (which ends a session
/// on any byte outside a packet and on any bad checksum). Like gdbserver, noise between
/// packets is skipped and a bad checksum is answered with a nak (`-`), so only real
/// abuse ends a session.
pub struct Framer {
    state: FrameState,
    packet: Vec<u8>,
    /// Longest raw packet (`$`, body, `#`, checksum) accepted.
    limit: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FrameState {
    Between,
    Body,
    Sum1,
    Sum2,
}

/// What one byte completed.
pub enum Framed<'a> {
    /// Inside a packet, or noise that was dropped.
    Pending,
    /// A byte that stands alone: an ack (`+`) or an interrupt (Ctrl-C, 0x03).
    Byte(u8),
    /// A whole packet (`$body#cs`) with a correct checksum.
    Packet(&'a [u8]),
    /// A whole packet whose checksum is wrong.
    BadChecksum,
    /// The packet grew past the limit (given).
    Oversized(usize),
}

impl Framer {
    /// A framer accepting bodies of up to `packet_size` bytes.
    pub fn new(packet_size: usize) -> Self {
        Framer {
            state: FrameState::Between,
            packet: Vec::new(),
            limit: packet_size.saturating_add(4),
        }
    }

    /// Take one byte of input.
    pub fn push(&mut self, byte: u8) -> Framed<'_> {
        match self.state {
            FrameState::Between => match byte {
                b'$' => {
                    self.packet.clear();
                    self.packet.push(byte);
                    self.state = FrameState::Body;
                    Framed::Pending
                }
                b'+' | 0x03 => Framed::Byte(byte),
                // A nak of our reply (gdbstub cannot resend) or line noise: skip it.
                _ => Framed::Pending,
            },
            FrameState::Body | FrameState::Sum1 => {
                if self.packet.len() >= self.limit {
                    self.state = FrameState::Between;
                    self.packet = Vec::new();
                    return Framed::Oversized(self.limit);
                }
                self.packet.push(byte);
                if self.state == FrameState::Sum1 {
                    self.state = FrameState::Sum2;
                } else if byte == b'#' {
                    self.state = FrameState::Sum1;
                }
                Framed::Pending
            }
            FrameState::Sum2 => {
                self.packet.push(byte);
                self.state = FrameState::Between;
                let n = self.packet.len();
                let given = std::str::from_utf8(&self.packet[n - 2..])
                    .ok()
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if given == Some(checksum(&self.packet[1..n - 3])) {
                    Framed::Packet(&self.packet)
                } else {
                    Framed::BadChecksum
                }
            }
        }
    }
}

/// The body of a whole packet `$body#cs` (no checks: the framer made it).
pub fn body_of(packet: &[u8]) -> &[u8] {
    &packet[1..packet.len().saturating_sub(3).max(1)]
}

/// Replace the first reply packet in `buf[from..]` with one whose body is
/// `edit(body)`, `body` decoded as a client would ([`decode_reply`]): how the packet
/// layer amends a reply gdbstub wrote. Bytes around the packet (an ack before it) stay.
/// Returns `false`, leaving `buf` as it was, if there is no whole packet there or it does
/// not decode.
pub fn rewrite_reply(buf: &mut Vec<u8>, from: usize, edit: impl FnOnce(&[u8]) -> Vec<u8>) -> bool {
    let Some(start) = buf
        .get(from..)
        .and_then(|b| b.iter().position(|&c| c == b'$'))
    else {
        return false;
    };
    let start = from + start;
    let Some(hash) = buf[start..].iter().position(|&c| c == b'#') else {
        return false;
    };
    let end = start + hash + 3;
    if end > buf.len() {
        return false;
    }
    let Ok(body) = decode_reply(&buf[start..end]) else {
        return false;
    };
    let mut packet = Vec::new();
    put_packet(&mut packet, &edit(&body));
    buf.splice(start..end, packet);
    true
}

/// Why a reply could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not `$…#xx`.
    #[error("not a packet: {0:?}")]
    NotAPacket(String),
    /// The checksum does not match.
    #[error("bad checksum: computed {computed:#04x}, packet says {given}")]
    BadChecksum { computed: u8, given: String },
    /// A run-length group with nothing before it, or a count out of range.
    #[error("bad run-length group at body offset {0}")]
    BadRun(usize),
}

/// Decode a reply packet `$body#cs` as a client does: check the checksum and expand
/// run-length groups. Escapes are left alone (only binary replies use them).
pub fn decode_reply(packet: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let not_packet = || DecodeError::NotAPacket(String::from_utf8_lossy(packet).into_owned());
    if packet.len() < 4 || packet[0] != b'$' || packet[packet.len() - 3] != b'#' {
        return Err(not_packet());
    }
    let body = &packet[1..packet.len() - 3];
    let given = &packet[packet.len() - 2..];
    let computed = checksum(body);
    if parse_hex(given) != Some(u64::from(computed)) {
        return Err(DecodeError::BadChecksum {
            computed,
            given: String::from_utf8_lossy(given).into_owned(),
        });
    }
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'*' {
            let (Some(&last), Some(&n)) = (out.last(), body.get(i + 1)) else {
                return Err(DecodeError::BadRun(i));
            };
            if !(29..=126).contains(&n) {
                return Err(DecodeError::BadRun(i));
            }
            out.extend(std::iter::repeat_n(last, usize::from(n) - 29));
            i += 2;
        } else {
            out.push(body[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Hex text to bytes (`None` on an odd length or a non-hex digit).
pub fn decode_hex(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    text.chunks_exact(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decoder written from the gdb manual ("Debugging with GDB", E.1 Overview):
    /// `$body#cs`, cs = sum of body mod 256; in the body `X*N` stands for X followed by
    /// N − 29 more copies of X. Kept apart from [`decode_reply`] so the encoder is
    /// checked against an independent reading of the manual.
    fn decode(packet: &[u8]) -> Vec<u8> {
        assert_eq!(packet[0], b'$');
        let hash = packet.len() - 3;
        assert_eq!(packet[hash], b'#');
        let body = &packet[1..hash];
        let sum = body.iter().fold(0u8, |a, &b| a.wrapping_add(b));
        let cs = u8::from_str_radix(std::str::from_utf8(&packet[hash + 1..]).unwrap(), 16);
        assert_eq!(cs, Ok(sum), "checksum");
        let mut out = Vec::new();
        let mut i = 0;
        while i < body.len() {
            if body[i] == b'*' {
                let n = body[i + 1];
                assert!(
                    (32..=126).contains(&n) && n != b'#' && n != b'$',
                    "count {n}"
                );
                let last = *out.last().unwrap();
                out.extend(std::iter::repeat_n(last, usize::from(n) - 29));
                i += 2;
            } else {
                assert!(body[i] != b'$' && body[i] != b'#');
                out.push(body[i]);
                i += 1;
            }
        }
        out
    }

    fn hex(data: &[u8]) -> Vec<u8> {
        data.iter()
            .flat_map(|b| format!("{b:02x}").into_bytes())
            .collect()
    }

    fn hex_reply(data: &[u8]) -> Vec<u8> {
        let mut out = b"+".to_vec();
        let mut w = PacketWriter::begin(&mut out);
        w.hex(data);
        w.finish();
        assert_eq!(out[0], b'+');
        out.split_off(1)
    }

    #[test]
    fn hex_replies_decode_to_the_hex_of_the_data() {
        let mut cases: Vec<Vec<u8>> = vec![
            vec![0x12],
            vec![0; 4096],
            vec![0xff; 1],
            (0..=255).collect(),
        ];
        // Every run length around the encoding's edges (3/4, 7/8, 98/99, 196/197 chars),
        // of equal-digit bytes (encoded) and of others (sent as they are).
        for n in 1..=110 {
            for fill in [0x11u8, 0x00, 0x12] {
                let mut v = vec![0xabu8; 3];
                v.extend(std::iter::repeat_n(fill, n));
                v.push(0x1f); // the run continues into the next byte's first digit
                cases.push(v);
            }
        }
        for data in cases {
            let packet = hex_reply(&data);
            assert_eq!(decode(&packet), hex(&data), "{data:02x?}");
            assert_eq!(decode_reply(&packet).unwrap(), hex(&data), "{data:02x?}");
        }
    }

    /// The encoder byte by byte: a byte with two equal digits followed by the same byte
    /// starts a run, every other byte is its two digits.
    fn hex_rle_bytewise(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < data.len() {
            let [hi, lo] = PAIRS[usize::from(data[i])];
            if hi == lo && data.get(i + 1) == Some(&data[i]) {
                let j = (i..data.len())
                    .find(|&j| data[j] != data[i])
                    .unwrap_or(data.len());
                push_run(&mut out, hi, 2 * (j - i));
                i = j;
            } else {
                out.extend_from_slice(&[hi, lo]);
                i += 1;
            }
        }
        out
    }

    proptest::proptest! {
        /// Sixteen bytes at a time gives exactly what byte by byte does, wherever the
        /// runs start and end relative to the blocks.
        #[test]
        fn hex_blocks_encode_as_bytewise(
            seed in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            runs in proptest::collection::vec((0usize..300, 0usize..40, 0u8..=255), 0..6),
        ) {
            let mut data = seed;
            for (at, len, b) in runs {
                let at = at.min(data.len());
                data.splice(at..at, std::iter::repeat_n(b, len));
            }
            let mut out = Vec::new();
            PacketWriter::begin(&mut out).hex(&data);
            proptest::prop_assert_eq!(&out[1..], &hex_rle_bytewise(&data)[..]);
        }
    }

    #[test]
    fn every_byte_value_at_every_position_of_a_block() {
        for pos in 0..17 {
            for b in 0..=255u8 {
                for next in [b, b ^ 1] {
                    let mut data = [0x12u8; 40];
                    data[pos] = b;
                    data[pos + 1] = next;
                    let mut out = Vec::new();
                    PacketWriter::begin(&mut out).hex(&data);
                    assert_eq!(&out[1..], &hex_rle_bytewise(&data)[..], "{data:02x?}");
                    assert_eq!(decode(&hex_reply(&data)), hex(&data), "{data:02x?}");
                }
            }
        }
    }

    #[test]
    fn zero_pages_shrink_and_errors_are_e_packets() {
        assert!(hex_reply(&[0; 4096]).len() < 300);
        let mut out = Vec::new();
        let mut w = PacketWriter::begin(&mut out);
        w.error(14);
        w.finish();
        assert_eq!(out, b"$E0e#da");
    }

    #[test]
    fn binary_escapes_exactly_the_reserved_bytes() {
        let data: Vec<u8> = (0..=255).collect();
        let mut out = Vec::new();
        let mut w = PacketWriter::begin(&mut out);
        w.binary(&data);
        w.finish();
        let body = &out[1..out.len() - 3];
        // Undo the escapes by the manual's rule: `}` then the byte XOR 0x20.
        let mut back = Vec::new();
        let mut it = body.iter();
        while let Some(&b) = it.next() {
            assert!(!matches!(b, b'#' | b'$' | b'*'), "unescaped {b:#x}");
            back.push(if b == b'}' {
                it.next().unwrap() ^ 0x20
            } else {
                b
            });
        }
        assert_eq!(back, data);
        assert_eq!(body.len(), 256 + 4, "four escaped bytes");
    }

    #[test]
    fn binary_matches_a_byte_by_byte_encoder_at_every_offset_and_length() {
        let naive = |data: &[u8]| -> Vec<u8> {
            data.iter()
                .flat_map(|&b| match b {
                    b'#' | b'$' | b'}' | b'*' => vec![b'}', b ^ 0x20],
                    _ => vec![b],
                })
                .collect()
        };
        // Reserved bytes at every position of a word, between ordinary ones, and bytes
        // one off the reserved values (borrows in the word test).
        let mut data = Vec::new();
        for i in 0..600u32 {
            data.push(match i % 13 {
                0 => b'#',
                5 => b'*',
                7 => b'}',
                9 => b'$',
                11 => b'#' - 1,
                _ => (i * 7 % 251) as u8,
            });
        }
        for start in 0..17 {
            for len in [0, 1, 7, 8, 9, 15, 16, 17, 64, 100, data.len() - start] {
                let slice = &data[start..start + len];
                let mut out = Vec::new();
                let mut w = PacketWriter::begin(&mut out);
                w.binary(slice);
                w.finish();
                assert_eq!(&out[1..out.len() - 3], naive(slice), "{start}+{len}");
            }
        }
    }

    #[test]
    fn numbers_and_console_output() {
        let mut out = Vec::new();
        let mut w = PacketWriter::begin(&mut out);
        w.hex_num(0);
        w.raw(b",");
        w.hex_num(0xffff_8000_0000_1234);
        w.finish();
        assert_eq!(decode(&out), b"0,ffff800000001234");
        let mut out = Vec::new();
        put_console_output(&mut out, "hi\n");
        assert_eq!(decode(&out), b"O68690a");
    }

    #[test]
    fn thread_ids_in_every_spelling() {
        let id = |s: &str| parse_thread_id(s.as_bytes());
        assert_eq!(
            id("p1.a"),
            Some(ThreadIdSpec {
                pid: Some(IdPart::Id(1)),
                tid: IdPart::Id(10)
            })
        );
        assert_eq!(
            id("p0.0"),
            Some(ThreadIdSpec {
                pid: Some(IdPart::Any),
                tid: IdPart::Any
            })
        );
        assert_eq!(
            id("p-1.-1"),
            Some(ThreadIdSpec {
                pid: Some(IdPart::All),
                tid: IdPart::All
            })
        );
        assert_eq!(
            id("p1"),
            Some(ThreadIdSpec {
                pid: Some(IdPart::Id(1)),
                tid: IdPart::All
            })
        );
        assert_eq!(
            id("3"),
            Some(ThreadIdSpec {
                pid: None,
                tid: IdPart::Id(3)
            })
        );
        assert_eq!(id("-1").map(|t| t.tid), Some(IdPart::All));
        for bad in ["", "p", "p1.", "x", "-2", "p1.zz", "11111111111111111"] {
            assert_eq!(id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn framer_finds_packets_skips_noise_and_naks_bad_sums() {
        let mut f = Framer::new(64);
        let mut seen = Vec::new();
        let mut input = b"junk+".to_vec();
        input.extend(packet(b"m0,1"));
        input.extend(b"$m0,1#00\x03");
        for &b in &input {
            match f.push(b) {
                Framed::Pending => {}
                Framed::Byte(b) => seen.push(format!("byte {b:#x}")),
                Framed::Packet(p) => seen.push(String::from_utf8_lossy(p).into_owned()),
                Framed::BadChecksum => seen.push("bad".into()),
                Framed::Oversized(n) => seen.push(format!("oversized {n}")),
            }
        }
        assert_eq!(seen, ["byte 0x2b", "$m0,1#fa", "bad", "byte 0x3"]);
        let mut f = Framer::new(4);
        let over = b"$123456789#00"
            .iter()
            .any(|&b| matches!(f.push(b), Framed::Oversized(8)));
        assert!(over);
    }

    #[test]
    fn a_reply_is_rewritten_in_place_with_a_fresh_checksum() {
        // An ack before it, run-length encoding inside it (as gdbstub writes).
        let mut buf = b"+".to_vec();
        buf.extend(packet(b"PacketSize=10*\"0;x+"));
        let before = buf.clone();
        assert!(rewrite_reply(&mut buf, 0, |body| {
            assert_eq!(body, b"PacketSize=10000000;x+");
            let mut b = body.to_vec();
            b.extend_from_slice(b";y+");
            b
        }));
        assert_eq!(buf[0], b'+');
        assert_eq!(decode(&buf[1..]), b"PacketSize=10000000;x+;y+");
        // Nothing to rewrite: unchanged.
        let mut none = b"+$OK".to_vec();
        assert!(!rewrite_reply(&mut none, 0, |_| Vec::new()));
        assert_eq!(none, b"+$OK");
        let mut late = before.clone();
        assert!(!rewrite_reply(&mut late, before.len(), |_| Vec::new()));
        assert_eq!(late, before);
    }

    #[test]
    fn client_decoding_rejects_damage() {
        assert!(matches!(
            decode_reply(b"$OK#00"),
            Err(DecodeError::BadChecksum { .. })
        ));
        assert!(matches!(
            decode_reply(b"OK"),
            Err(DecodeError::NotAPacket(_))
        ));
        assert!(matches!(
            decode_reply(&packet(b"*!")),
            Err(DecodeError::BadRun(0))
        ));
        assert_eq!(decode_reply(&packet(b"OK")).unwrap(), b"OK");
        assert_eq!(decode_hex(b"0aff"), Some(vec![0x0a, 0xff]));
        assert_eq!(decode_hex(b"0af"), None);
        assert_eq!(decode_hex(b"zz"), None);
    }
}
