//! The saved-image reader against the builder's stream writer: every field read back,
//! every kind of stream, and hostile ones.

use crate::addr::{GuestFrame, PageIndex, PAGE_SIZE};
use crate::builder::scenario::Scenario;
use crate::builder::stream::{STALE, UNFINISHED};
use crate::builder::{Container, StreamOptions};
use crate::dump::stream::{rec, Container as ReadContainer};
use crate::dump::{ContextLayout, DumpError, DumpFormat, FrameSpace, GuestKind, XenDump};
use crate::memory::PagingMode;

fn scenarios() -> Vec<Scenario> {
    [
        (GuestKind::Pv, PagingMode::FourLevel),
        (GuestKind::Pv, PagingMode::Pae),
        (GuestKind::Hvm, PagingMode::FourLevel),
        (GuestKind::Hvm, PagingMode::Pae),
        (GuestKind::Hvm, PagingMode::TwoLevel { pse: true }),
    ]
    .into_iter()
    .map(|(k, m)| Scenario::new(k, m).unwrap())
    .collect()
}

/// Every page of the guest reads back as the stream holds it.
fn check_pages(s: &Scenario, opts: &StreamOptions, d: &XenDump, what: &str) {
    let contents = s.stream_contents(opts);
    let pfns: Vec<GuestFrame> = s.image.populated_pfns().collect();
    assert_eq!(d.valid_page_count(), pfns.len() as u64, "{what}");
    for (i, &pfn) in pfns.iter().enumerate() {
        let index = d
            .page_of_pfn(pfn)
            .unwrap_or_else(|| panic!("{what}: {pfn}"));
        assert_eq!(index, PageIndex(i as u64), "{what}: pages by pfn order");
        assert_eq!(d.pfn_of(index), Some(pfn), "{what}");
        let want = contents.get(&pfn);
        let have = d.page(index).unwrap();
        match want {
            Some(p) => assert!(have == &p[..], "{what}: {pfn} differs"),
            None => assert!(have.iter().all(|&b| b == 0), "{what}: {pfn} not zero"),
        }
    }
    assert!(d.page_of_pfn(GuestFrame(0x7_0000)).is_none(), "{what}");
}

#[test]
fn every_kind_of_guest_reads_back_field_by_field() {
    for s in scenarios() {
        let opts = StreamOptions::xl_save();
        let bytes = s.write_stream(&opts).unwrap();
        let what = format!("{:?} {}", s.image.kind, s.mode);
        let d = XenDump::from_bytes(bytes).unwrap();
        assert_eq!(d.format(), DumpFormat::SavedImage, "{what}");
        assert_eq!(d.guest_kind(), s.image.kind, "{what}");
        assert_eq!(d.table_frame_space(), FrameSpace::Guest, "{what}");
        assert_eq!(d.cr3_frame_space(), FrameSpace::Guest, "{what}");
        assert!(d.knows_pfns() && !d.knows_mfns(), "{what}");
        assert_eq!(d.vcpus(), &s.stream_states(&opts)[..], "{what}");
        assert!(d.warnings().is_empty(), "{what}: {:?}", d.warnings());
        check_pages(&s, &opts, &d, &what);
        // The offline vCPU: no registers, no record.
        assert!(!d.vcpus()[2].recorded, "{what}");
        assert!(d.raw_context(2).is_none(), "{what}");
        let f = d.saved_image().unwrap();
        assert_eq!(f.container, ReadContainer::Xl);
        let cfg = f.xl.as_ref().unwrap().config.as_ref().unwrap();
        assert_eq!(cfg.name.as_deref(), Some("xendump-demo"));
        assert_eq!(cfg.max_vcpus, Some(3));
        assert_eq!(cfg.avail_vcpus.as_deref(), Some(&[0u64, 1][..]));
        assert_eq!(f.libxl_version, Some(2));
        assert_eq!(f.libxc_version, 3);
        assert_eq!((f.xen_major, f.xen_minor), (4, 17));
        assert!(f.complete);
        assert_eq!(f.checkpoints, 0);
        assert_eq!(f.pages, s.image.page_count());
        assert_eq!(f.page_copies, s.image.page_count());
        assert_eq!(f.vcpus_saved, vec![0, 1]);
        assert_eq!(f.tsc.map(|t| t.khz), Some(2_400_000));
        assert_eq!(f.cpuid_leaves, Some(2));
        assert_eq!(f.msr_entries, Some(1));
        // One run per stretch of memory.
        assert!(f.index_runs.is_some_and(|r| r <= 3), "{what}: {f:?}");
        match s.image.kind {
            GuestKind::Pv => {
                let pv = f.pv.as_ref().unwrap();
                let wide = s.mode == PagingMode::FourLevel;
                assert_eq!(pv.guest_width, if wide { 8 } else { 4 });
                assert_eq!(pv.pt_levels, if wide { 4 } else { 3 });
                assert_eq!(pv.p2m_pfns, Some((0, 0x7ff)));
                assert_eq!(d.pv_paging_levels(), Some(pv.pt_levels));
                assert_eq!(
                    d.context_layout(),
                    if wide {
                        ContextLayout::X86_64
                    } else {
                        ContextLayout::X86_32
                    }
                );
                assert_eq!(
                    d.raw_context(0).map(<[u8]>::len),
                    Some(d.context_layout().size() as usize)
                );
                assert_eq!(d.shared_info().map(<[u8]>::len), Some(PAGE_SIZE as usize));
                assert_eq!(f.vcpu_extras.len(), 2);
                assert_eq!(f.vcpu_extras[0].extended, 40);
                assert_eq!(f.vcpu_extras[0].msrs, 1);
                // Page tables are typed; the roots pinned.
                let types: Vec<&str> = f.page_types.iter().map(|t| t.page_type).collect();
                assert!(types.contains(&"L1TAB"), "{types:?}");
                assert!(
                    types.contains(&if wide { "L4TAB_PIN" } else { "L3TAB_PIN" }),
                    "{types:?}"
                );
                assert!(f.hvm_context.is_none() && f.hvm_params.is_empty());
            }
            GuestKind::Hvm => {
                assert_eq!(d.context_record(), "hvm_hw_cpu");
                assert_eq!(d.raw_context(1).map(<[u8]>::len), Some(1032));
                let c = f.hvm_context.as_ref().unwrap();
                assert!(c.ended);
                assert_eq!(c.header.map(|h| h.gtsc_khz), Some(2_400_000));
                let cpus = c.entries.iter().find(|e| e.name == "CPU").unwrap();
                assert_eq!(cpus.count, 2);
                assert_eq!(f.hvm_params.len(), 3);
                assert_eq!(f.hvm_params[0].name, "STORE_PFN");
                assert_eq!(f.emulator.len(), 1);
                assert_eq!(f.emulator[0].emulator, 2);
                // The VGA hole: pfns sent without data.
                assert_eq!(f.pages_without_data, 0x20);
                assert!(d.vcpus()[0].efer.is_some());
                assert!(d.vcpus()[0].system.is_some());
            }
        }
    }
}

#[test]
fn bare_streams_and_version_2_read_alike() {
    let s = Scenario::new(GuestKind::Hvm, PagingMode::FourLevel).unwrap();
    for (container, version) in [
        (Container::Libxl, 2),
        (Container::Libxc, 3),
        (Container::Libxc, 2),
    ] {
        let opts = StreamOptions {
            container,
            version,
            ..StreamOptions::xl_save()
        };
        let d = XenDump::from_bytes(s.write_stream(&opts).unwrap()).unwrap();
        let what = format!("{container:?} v{version}");
        // Without xl's configuration, vCPUs after the last online one are unknown.
        assert_eq!(d.vcpus(), &s.stream_states(&opts)[..2], "{what}");
        check_pages(&s, &opts, &d, &what);
        let f = d.saved_image().unwrap();
        assert_eq!(f.libxc_version, version);
        assert_eq!(f.xl.is_none(), container != Container::Xl);
        assert_eq!(f.libxl_version.is_some(), container == Container::Libxl);
        assert_eq!(f.cpuid_leaves.is_some(), version == 3);
    }
}

#[test]
fn the_newest_copy_of_a_page_and_of_the_registers_is_served() {
    for s in scenarios().into_iter().step_by(2) {
        for (opts, checkpoints) in [
            (StreamOptions::live(3), 0),
            (StreamOptions::checkpointed(3, false), 3),
            (StreamOptions::checkpointed(2, true), 2),
        ] {
            let what = format!("{:?} {} {:?}", s.image.kind, s.mode, opts.passes);
            let d = XenDump::from_bytes(s.write_stream(&opts).unwrap()).unwrap();
            assert_eq!(d.vcpus(), &s.stream_states(&opts)[..], "{what}");
            check_pages(&s, &opts, &d, &what);
            let f = d.saved_image().unwrap();
            assert_eq!(f.checkpoints, checkpoints, "{what}");
            assert!(f.page_copies > f.pages, "{what}");
            // Remus never ends its stream.
            assert_eq!(f.complete, checkpoints == 0, "{what}");
            let unfinished = matches!(
                opts.passes,
                crate::builder::Passes::Checkpointed {
                    unfinished: true,
                    ..
                }
            );
            assert_eq!(f.dropped_pages > 0, unfinished, "{what}");
            if unfinished {
                assert!(
                    d.warnings().iter().any(|w| w.contains("last CHECKPOINT")),
                    "{what}: {:?}",
                    d.warnings()
                );
            }
        }
    }
    // The stale and unfinished copies really differ from what is served.
    assert_ne!(STALE, 0);
    assert_ne!(UNFINISHED, 0);
}

#[test]
fn a_truncated_stream_serves_what_was_read() {
    let s = Scenario::new(GuestKind::Pv, PagingMode::FourLevel).unwrap();
    let opts = StreamOptions {
        batch: 256,
        ..StreamOptions::xl_save()
    };
    let full = s.write_stream(&opts).unwrap();
    let layout = s
        .image
        .write_stream_to(
            &s.stream_options(&opts),
            &mut std::io::Cursor::new(Vec::new()),
        )
        .unwrap();
    let first = layout.libxc(rec::PAGE_DATA, 0).unwrap();
    let first_page_data = first.offset;
    // Refused while the cut leaves no page: nothing to serve.
    let first_page_data_end = first.offset + 8 + first.len;
    let third_page_data = layout.libxc(rec::PAGE_DATA, 2).unwrap();
    // Cut inside the third PAGE_DATA record: two records of pages served, no registers.
    let cut = third_page_data.offset + 8 + 100;
    let d = XenDump::from_bytes(full[..cut as usize].to_vec()).unwrap();
    assert_eq!(d.valid_page_count(), 512);
    assert!(d.vcpus().iter().all(|v| !v.recorded));
    assert_eq!(d.vcpus().len(), 3, "the configuration still says 3 vCPUs");
    let w = d.warnings().join("\n");
    assert!(w.contains("ends inside libxc record PAGE_DATA"), "{w}");
    assert!(w.contains("no vCPU registers"), "{w}");
    let contents = s.stream_contents(&opts);
    for pfn in 0..512 {
        let i = d.page_of_pfn(GuestFrame(pfn)).unwrap();
        let want = contents.get(&GuestFrame(pfn));
        assert!(d.page(i).unwrap() == want.map_or(&[0u8; 4096][..], |p| &p[..]));
    }
    assert!(d.page_of_pfn(GuestFrame(512)).is_none());
    // Every cut opens or is refused for its header, never a panic.
    let step = full.len() / 61;
    for cut in (0..full.len())
        .step_by(step)
        .chain([first_page_data as usize - 1, full.len() - 1])
    {
        match XenDump::from_bytes(full[..cut].to_vec()) {
            Ok(d) => assert!(!d.warnings().is_empty(), "cut at {cut}"),
            Err(e) => assert!(
                cut < first_page_data_end as usize,
                "cut at {cut:#x} refused: {e}"
            ),
        }
    }
}

/// `bytes` with a record of `rtype` and `body` put in front of the libxc record at
/// `at`.
fn insert_record(bytes: &[u8], at: u64, rtype: u32, body: &[u8]) -> Vec<u8> {
    let mut out = bytes[..at as usize].to_vec();
    out.extend_from_slice(&rtype.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    out.resize(out.len() + body.len().div_ceil(8) * 8 - body.len(), 0);
    out.extend_from_slice(&bytes[at as usize..]);
    out
}

#[test]
fn unknown_records_are_skipped_if_optional_and_refused_if_mandatory() {
    let s = Scenario::new(GuestKind::Hvm, PagingMode::FourLevel).unwrap();
    let opts = StreamOptions::xl_save();
    let bytes = s.write_stream(&opts).unwrap();
    let layout = s
        .image
        .write_stream_to(&opts, &mut std::io::Cursor::new(Vec::new()))
        .unwrap();
    let at = layout.libxc(rec::PAGE_DATA, 0).unwrap().offset;
    let optional = insert_record(&bytes, at, 0x8000_0042, b"something new");
    let d = XenDump::from_bytes(optional).unwrap();
    assert_eq!(d.saved_image().unwrap().skipped_optional, 1);
    check_pages(&s, &opts, &d, "optional record");
    let mandatory = insert_record(&bytes, at, 0x42, &[]);
    match XenDump::from_bytes(mandatory) {
        Err(e @ DumpError::UnknownRecord { .. }) => {
            let m = e.to_string();
            assert!(m.contains("0x42") && m.contains(&format!("{at:#x}")), "{m}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_page_records_are_skipped_and_the_rest_served() {
    let s = Scenario::new(GuestKind::Hvm, PagingMode::FourLevel).unwrap();
    let opts = StreamOptions {
        batch: 256,
        ..StreamOptions::xl_save()
    };
    let bytes = s.write_stream(&opts).unwrap();
    let layout = s
        .image
        .write_stream_to(&opts, &mut std::io::Cursor::new(Vec::new()))
        .unwrap();
    let second = layout.libxc(rec::PAGE_DATA, 1).unwrap().offset as usize;
    // Its count says one pfn more than the record holds.
    let mut bad = bytes.clone();
    bad[second + 8] = bad[second + 8].wrapping_add(1);
    let d = XenDump::from_bytes(bad).unwrap();
    assert!(d.page_of_pfn(GuestFrame(0x100)).is_none());
    assert!(d.page_of_pfn(GuestFrame(0x300)).is_some());
    assert!(
        d.warnings().iter().any(|w| w.contains("skipped")),
        "{:?}",
        d.warnings()
    );
    // A reserved page type.
    let mut bad = bytes.clone();
    bad[second + 16 + 7] = 0x50;
    let d = XenDump::from_bytes(bad).unwrap();
    assert!(d.page_of_pfn(GuestFrame(0x100)).is_none());
    // A length beyond Xen's limit: read up to there.
    let mut bad = bytes.clone();
    bad[second + 4..second + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    let d = XenDump::from_bytes(bad).unwrap();
    // The first record's 256 pfns, less the VGA hole's 32.
    assert_eq!(d.valid_page_count(), 224);
    assert!(
        d.warnings().iter().any(|w| w.contains("more than")),
        "{:?}",
        d.warnings()
    );
    // A pfn beyond anything a guest has.
    let mut bad = bytes;
    bad[second + 16..second + 24].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let d = XenDump::from_bytes(bad).unwrap();
    assert!(d.page_of_pfn(GuestFrame(0x100)).is_none());
    assert!(d.page_of_pfn(GuestFrame(0x101)).is_some());
    assert!(
        d.warnings().iter().any(|w| w.contains("beyond")),
        "{:?}",
        d.warnings()
    );
}

#[test]
fn the_old_cpu_record_and_the_legacy_stream() {
    let s = Scenario::new(GuestKind::Hvm, PagingMode::FourLevel).unwrap();
    let opts = StreamOptions {
        compat_cpu: true,
        ..StreamOptions::xl_save()
    };
    let d = XenDump::from_bytes(s.write_stream(&opts).unwrap()).unwrap();
    assert_eq!(d.vcpus(), &s.stream_states(&opts)[..]);
    assert_eq!(d.vcpus()[0].system.as_ref().unwrap().tsc_aux, None);
    // xl's header of a Xen < 4.6 image: no STREAMv2 flag.
    let mut old = s.write_stream(&StreamOptions::xl_save()).unwrap();
    old[36] &= !2;
    let e = XenDump::from_bytes(old).unwrap_err().to_string();
    assert!(e.contains("legacy stream"), "{e}");
}
