//! Memory-read replies encoded in one pass, instead of byte by byte.
//!
//! gdbstub 0.7 writes every reply byte through `Connection::write`, with run-length and
//! checksum bookkeeping per byte: for the 64 KiB of hex in a 32 KiB `m` reply that was
//! over 85% of the server's CPU time in a bulk read (README, "Performance"). So the
//! session driver lets gdbstub parse `m` packets and choose the thread exactly as
//! before, but the target only records the request ([`PendingRead`]) and reports an
//! empty read; the driver then swaps gdbstub's empty reply for one built here.
//!
//! The reply is what gdbstub would send: the readable prefix in hex (run-length
//! encoded), or `E0e` when nothing is readable.

/// A memory read gdbstub asked for, to be answered by the session driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingRead {
    /// vCPU slot whose address space the read goes through.
    pub slot: usize,
    /// First address.
    pub addr: u64,
    /// Bytes asked for.
    pub len: usize,
}

/// Most bytes one reply carries (gdb asks for half its packet size at a time; a
/// client asking for more gets a partial read, as the protocol allows).
pub const MAX_READ_REPLY: usize = 1 << 20;

/// The reply gdbstub sends for a read that returned no bytes: an empty packet.
pub const EMPTY_REPLY: &[u8] = b"$#00";

/// Errno sent when no byte at the address is readable (EFAULT, as `read_addrs` uses).
pub const EFAULT: u8 = 14;

const HEX: &[u8; 16] = b"0123456789abcdef";
/// Longest run one `X*N` group covers: N = run + 28 must stay printable (≤ '~').
const MAX_RUN: usize = 98;

/// Append a complete packet (`$…#cs`) answering a memory read: `data` in hex, or the
/// error `E<errno>` when `data` is empty.
///
/// Runs of a repeated byte whose two hex digits are equal (zero pages above all) are
/// run-length encoded, which also spares gdb most of their decoding. Other repeats
/// are sent as they are: run-length encoding is optional for the sender.
pub fn encode_memory_reply(out: &mut Vec<u8>, data: &[u8], errno: u8) {
    out.push(b'$');
    let body = out.len();
    if data.is_empty() {
        out.extend_from_slice(&[
            b'E',
            HEX[usize::from(errno >> 4)],
            HEX[usize::from(errno & 15)],
        ]);
    } else {
        // Sized for the plain hex; runs only ever shrink it.
        out.resize(body + 2 * data.len(), 0);
        let written = encode_hex_rle(&mut out[body..], data);
        out.truncate(body + written);
    }
    let sum = out[body..].iter().fold(0u8, |a, &b| a.wrapping_add(b));
    out.extend_from_slice(&[b'#', HEX[usize::from(sum >> 4)], HEX[usize::from(sum & 15)]]);
}

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

/// Does any byte of `x` have two equal hex digits (and so might start a run)?
#[inline]
fn has_equal_digit_byte(x: u64) -> bool {
    const LOW_NIBBLES: u64 = 0x0F0F_0F0F_0F0F_0F0F;
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Per byte: low digit XOR high digit, zero exactly where they are equal.
    let d = (x ^ (x >> 4)) & LOW_NIBBLES;
    d.wrapping_sub(ONES) & !d & HIGHS != 0
}

/// Hex of `data` into `buf` (at least twice as long), runs encoded; returns the length.
fn encode_hex_rle(buf: &mut [u8], data: &[u8]) -> usize {
    let mut w = 0;
    let mut i = 0;
    while i < data.len() {
        // Eight bytes at a time while none of them can start a run.
        if let Some(word) = data.get(i..i + 8) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(word);
            if !has_equal_digit_byte(u64::from_le_bytes(bytes)) {
                for (dst, &b) in buf[w..w + 16].chunks_exact_mut(2).zip(&bytes) {
                    dst.copy_from_slice(&PAIRS[usize::from(b)]);
                }
                w += 16;
                i += 8;
                continue;
            }
        }
        let b = data[i];
        let (hi, lo) = (HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]);
        if hi == lo && data.get(i + 1) == Some(&b) {
            let mut j = i + 2;
            while j < data.len() && data[j] == b {
                j += 1;
            }
            w += encode_run(&mut buf[w..], hi, 2 * (j - i));
            i = j;
        } else {
            buf[w] = hi;
            buf[w + 1] = lo;
            w += 2;
            i += 1;
        }
    }
    w
}

/// `len` (≥ 4) copies of `c` as `X*N` groups (N − 29 extra copies each) into `buf`;
/// returns the bytes written, never more than `len`. Runs of 7 and 8 would need the
/// count characters `#` and `$`, which the protocol forbids: they go as 6 + the rest.
fn encode_run(buf: &mut [u8], c: u8, len: usize) -> usize {
    let mut w = 0;
    let mut left = len;
    while left > 3 {
        let n = match left.min(MAX_RUN) {
            7 | 8 => 6,
            n => n,
        };
        buf[w..w + 3].copy_from_slice(&[c, b'*', (n + 28) as u8]);
        w += 3;
        left -= n;
    }
    for slot in &mut buf[w..w + left] {
        *slot = c;
    }
    w + left
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decoder written from the gdb manual ("Debugging with GDB", E.1 Overview):
    /// `$body#cs`, cs = sum of body mod 256; in the body `X*N` stands for X followed by
    /// N − 29 more copies of X.
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

    #[test]
    fn replies_decode_to_the_hex_of_the_data() {
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
            let mut out = b"+".to_vec();
            encode_memory_reply(&mut out, &data, EFAULT);
            assert_eq!(out[0], b'+');
            assert_eq!(decode(&out[1..]), hex(&data), "{data:02x?}");
        }
    }

    #[test]
    fn equal_digit_bytes_are_found_in_every_position() {
        for pos in 0..8 {
            for b in 0..=255u8 {
                let mut word = [0x12u8; 8];
                word[pos] = b;
                let equal = b >> 4 == b & 15;
                assert_eq!(
                    has_equal_digit_byte(u64::from_le_bytes(word)),
                    equal,
                    "{word:02x?}"
                );
            }
        }
    }

    #[test]
    fn zero_pages_shrink_and_errors_are_e_packets() {
        let mut out = Vec::new();
        encode_memory_reply(&mut out, &[0; 4096], EFAULT);
        // 8192 '0's in groups of 98: 3 bytes per group.
        assert!(out.len() < 300, "{} bytes", out.len());
        let mut out = Vec::new();
        encode_memory_reply(&mut out, &[], EFAULT);
        assert_eq!(out, b"$E0e#da");
    }
}
