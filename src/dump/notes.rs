//! The `.note.Xen` section: dump header, Xen version, format version.

use serde::Serialize;

use super::error::{DumpError, Result};
use super::source::LeRead;

/// `XEN_ELFNOTE_DUMPCORE_NONE`: marks a xendump.
pub const NOTE_NONE: u32 = 0x200_0000;
/// `XEN_ELFNOTE_DUMPCORE_HEADER`.
pub const NOTE_HEADER: u32 = 0x200_0001;
/// `XEN_ELFNOTE_DUMPCORE_XEN_VERSION`.
pub const NOTE_XEN_VERSION: u32 = 0x200_0002;
/// `XEN_ELFNOTE_DUMPCORE_FORMAT_VERSION`.
pub const NOTE_FORMAT_VERSION: u32 = 0x200_0003;

/// The dump header note (`xen_dumpcore_elfnote_header_desc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CoreHeader {
    /// 0xF00FEBED (PV) or 0xF00FEBEE (HVM/PVH).
    pub magic: u64,
    pub nr_vcpus: u64,
    pub nr_pages: u64,
    pub page_size: u64,
}

/// What the hypervisor said about itself (`xen_dumpcore_elfnote_xen_version_desc`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct XenVersion {
    pub major: u64,
    pub minor: u64,
    pub extra: String,
    pub compiler: String,
    pub compile_by: String,
    pub compile_domain: String,
    pub compile_date: String,
    pub capabilities: String,
    pub changeset: String,
    /// `platform_parameters.virt_start` (may be clobbered for 32-bit PV guests, §3.5).
    pub virt_start: u64,
    pub page_size: u64,
}

impl XenVersion {
    /// "4.17.2-pre" style version string.
    pub fn version_string(&self) -> String {
        format!("{}.{}{}", self.major, self.minor, self.extra)
    }

    /// Does the capabilities string name a 64-bit hypervisor?
    pub fn hypervisor_is_64bit(&self) -> bool {
        self.capabilities
            .split_whitespace()
            .any(|t| t.ends_with("x86_64"))
    }

    /// Was this written by a toolstack at least `major.minor`?
    pub fn at_least(&self, major: u64, minor: u64) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

/// All notes found.
#[derive(Clone, Debug, Default)]
pub struct XenNotes {
    pub header: Option<CoreHeader>,
    pub version: Option<XenVersion>,
    /// Raw `XEN_VERSION` descriptor size: 1280 from 64-bit tools, 1276 from 32-bit tools.
    pub version_descsz: Option<u32>,
    pub format_version: Option<u64>,
    pub saw_none_note: bool,
    /// Notes of unknown type or owner, for the warnings list.
    pub unknown: Vec<(String, u32)>,
}

fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn align4(v: u64) -> Option<u64> {
    v.checked_add(3).map(|x| x & !3)
}

/// Parse the notes in `sec`, which starts at file offset `base` (for error messages).
pub fn parse(sec: &[u8], base: u64) -> Result<XenNotes> {
    let mut out = XenNotes::default();
    let mut off = 0u64;
    let len = sec.len() as u64;
    while off < len {
        let at = base + off;
        let bad = |what: String| DumpError::BadNote { offset: at, what };
        if len - off < 12 {
            return Err(bad(format!(
                "{} trailing bytes are too few for a note header (12)",
                len - off
            )));
        }
        let namesz = u64::from(sec.u32_at(off).unwrap_or(0));
        let descsz = u64::from(sec.u32_at(off + 4).unwrap_or(0));
        let ntype = sec.u32_at(off + 8).unwrap_or(0);
        let name_off = off + 12;
        let desc_off = align4(name_off + namesz).ok_or_else(|| bad("namesz overflows".into()))?;
        let next = desc_off
            .checked_add(descsz)
            .and_then(align4)
            .ok_or_else(|| bad("descsz overflows".into()))?;
        if desc_off + descsz > len {
            return Err(bad(format!(
                "note (namesz {namesz}, descsz {descsz}) runs past the end of the section ({len} bytes)"
            )));
        }
        let name = c_string(sec.bytes_at(name_off, namesz).unwrap_or(&[]));
        let desc = sec.bytes_at(desc_off, descsz).unwrap_or(&[]);
        if name != "Xen" {
            out.unknown.push((name, ntype));
            off = next.min(len);
            continue;
        }
        match ntype {
            NOTE_NONE => out.saw_none_note = true,
            NOTE_HEADER => {
                if desc.len() < 32 {
                    return Err(bad(format!(
                        "DUMPCORE_HEADER descriptor is {} bytes, expected 32",
                        desc.len()
                    )));
                }
                out.header = Some(CoreHeader {
                    magic: desc.u64_at(0).unwrap_or(0),
                    nr_vcpus: desc.u64_at(8).unwrap_or(0),
                    nr_pages: desc.u64_at(16).unwrap_or(0),
                    page_size: desc.u64_at(24).unwrap_or(0),
                });
            }
            NOTE_XEN_VERSION => {
                if desc.len() < 1276 {
                    return Err(bad(format!(
                        "DUMPCORE_XEN_VERSION descriptor is {} bytes, expected 1276 or 1280",
                        desc.len()
                    )));
                }
                out.version_descsz = Some(descsz as u32);
                out.version = Some(parse_version(desc));
            }
            NOTE_FORMAT_VERSION => {
                if desc.len() < 8 {
                    return Err(bad(format!(
                        "DUMPCORE_FORMAT_VERSION descriptor is {} bytes, expected 8",
                        desc.len()
                    )));
                }
                out.format_version = desc.u64_at(0);
            }
            other => out.unknown.push((name, other)),
        }
        off = next;
    }
    Ok(out)
}

fn parse_version(d: &[u8]) -> XenVersion {
    let s = |off: u64, len: u64| c_string(d.bytes_at(off, len).unwrap_or(&[]));
    // The page size sits at 1272 (64-bit layout) or 1268 (32-bit tools, or a 32-bit PV
    // guest dumped by 64-bit tools >= 3.4, which moves it down 4 bytes). The writer's
    // choice is not recorded anywhere reliable, but the value itself is: take the slot
    // that holds a plausible page size.
    let at1272 = d.u64_at(1272);
    let at1268 = d.u64_at(1268).unwrap_or(0);
    let plausible = |v: u64| v.is_power_of_two() && (4096..=1 << 30).contains(&v);
    let (page_size, virt_start) = match at1272 {
        Some(v) if plausible(v) => (v, d.u64_at(1264).unwrap_or(0)),
        _ if plausible(at1268) => (at1268, u64::from(d.u32_at(1264).unwrap_or(0))),
        _ => (at1272.unwrap_or(at1268), d.u64_at(1264).unwrap_or(0)),
    };
    XenVersion {
        major: d.u64_at(0).unwrap_or(0),
        minor: d.u64_at(8).unwrap_or(0),
        extra: s(16, 16),
        compiler: s(32, 64),
        compile_by: s(96, 16),
        compile_domain: s(112, 32),
        compile_date: s(144, 32),
        capabilities: s(176, 1024),
        changeset: s(1200, 64),
        virt_start,
        page_size,
    }
}
