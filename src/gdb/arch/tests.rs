//! Layout tests. Expected offsets are the ones of docs/xen-dump-format.md §7.1/§7.2 (gdb's
//! `maint print remote-registers` for the same XML agrees: see tests/gdb_tdesc.rs).

use super::*;
use crate::dump::GuestKind;
use crate::vcpu::FxSave;
use crate::vcpu::Gprs;
use crate::vcpu::Selectors;
use crate::vcpu::VGCF_IN_KERNEL;
use crate::vcpu::VGCF_ONLINE;

/// 1.0 as an x87 extended value.
const ONE: [u8; 10] = [0, 0, 0, 0, 0, 0, 0, 0x80, 0xFF, 0x3F];

fn serialize(regs: &impl Registers) -> Vec<Option<u8>> {
    let mut out = Vec::new();
    regs.gdb_serialize(|byte| out.push(byte));
    out
}

/// The bytes at `offset..offset + len`, all of which must be available.
fn bytes_at(blob: &[Option<u8>], offset: usize, len: usize) -> Vec<u8> {
    blob[offset..offset + len]
        .iter()
        .enumerate()
        .map(|(i, byte)| byte.unwrap_or_else(|| panic!("byte {} unavailable", offset + i)))
        .collect()
}

fn u64_at(blob: &[Option<u8>], offset: usize) -> u64 {
    u64::from_le_bytes(bytes_at(blob, offset, 8).try_into().unwrap())
}

fn u32_at(blob: &[Option<u8>], offset: usize) -> u32 {
    u32::from_le_bytes(bytes_at(blob, offset, 4).try_into().unwrap())
}

fn u128_at(blob: &[Option<u8>], offset: usize) -> u128 {
    u128::from_le_bytes(bytes_at(blob, offset, 16).try_into().unwrap())
}

fn is_unavailable(blob: &[Option<u8>], offset: usize, len: usize) -> bool {
    blob[offset..offset + len].iter().all(Option::is_none)
}

/// An FXSAVE image whose every field is distinct: known raw values at the §4.8 offsets.
fn distinct_fxsave(fip_width: u8) -> FxSave {
    let mut raw = [0u8; 512];
    raw[0..2].copy_from_slice(&0x0362u16.to_le_bytes()); // FCW
    raw[2..4].copy_from_slice(&0x3800u16.to_le_bytes()); // FSW, TOP = 7
    raw[4] = 0x80; // physical 7 = ST(0) in use
    raw[6..8].copy_from_slice(&0x0123u16.to_le_bytes()); // FOP
    raw[8..12].copy_from_slice(&0x4444_1111u32.to_le_bytes());
    raw[12..16].copy_from_slice(&0x0000_0010u32.to_le_bytes());
    raw[16..20].copy_from_slice(&0x5555_2222u32.to_le_bytes());
    raw[20..24].copy_from_slice(&0x0000_0018u32.to_le_bytes());
    raw[24..28].copy_from_slice(&0x0000_1F81u32.to_le_bytes()); // MXCSR
    for i in 0..8 {
        let start = 32 + 16 * i;
        raw[start..start + 10].copy_from_slice(&st_value(i));
    }
    for i in 0..16 {
        let start = 160 + 16 * i;
        raw[start..start + 16].copy_from_slice(&xmm_value(i).to_le_bytes());
    }
    raw[511] = fip_width;
    FxSave(raw)
}

fn st_value(i: usize) -> [u8; 10] {
    if i == 0 {
        ONE
    } else {
        [
            i as u8,
            0xA1,
            0xA2,
            0xA3,
            0xA4,
            0xA5,
            0xA6,
            0xA7,
            0xA8,
            0x10 + i as u8,
        ]
    }
}

fn xmm_value(i: usize) -> u128 {
    0x0F0E_0D0C_0B0A_0908_0706_0504_0302_0100 + ((i as u128) << 120) + i as u128
}

/// A 64-bit PV vCPU with a distinct value in every field.
fn distinct_state() -> VcpuState {
    VcpuState {
        slot: 3,
        layout: ContextLayout::X86_64,
        guest_kind: GuestKind::Pv,
        flags: VGCF_ONLINE | VGCF_IN_KERNEL,
        gprs: Gprs {
            rax: 0xA000_0000_0000_0001,
            rbx: 0xA000_0000_0000_0002,
            rcx: 0xA000_0000_0000_0003,
            rdx: 0xA000_0000_0000_0004,
            rsi: 0xA000_0000_0000_0005,
            rdi: 0xA000_0000_0000_0006,
            rbp: 0xA000_0000_0000_0007,
            rsp: 0xA000_0000_0000_0008,
            r8: 0xA000_0000_0000_0009,
            r9: 0xA000_0000_0000_000A,
            r10: 0xA000_0000_0000_000B,
            r11: 0xA000_0000_0000_000C,
            r12: 0xA000_0000_0000_000D,
            r13: 0xA000_0000_0000_000E,
            r14: 0xA000_0000_0000_000F,
            r15: 0xA000_0000_0000_0010,
        },
        rip: 0xFFFF_FFFF_8100_1234,
        rflags: 0x0000_0000_0024_0246,
        selectors: Selectors {
            cs: 0xE033,
            ss: 0xE02B,
            ds: 0x002B,
            es: 0x0023,
            fs: 0x0063,
            gs: 0x006B,
        },
        ctrlreg: [
            0x8005_003B,
            0x1111_1000, // cr1: not exported
            0x7F00_0000_0ABC,
            0x0000_0012_3456_7000,
            0x0037_06F0,
            0x55,
            0x66,
            0x77,
        ],
        debugreg: [
            0xD000_0000_0000_0000,
            0xD000_0000_0000_0001,
            0xD000_0000_0000_0002,
            0xD000_0000_0000_0003,
            0xD4,
            0xD5,
            0xFFFF_0FF0,
            0x0000_0400,
        ],
        fs_base: Some(0x0000_7F12_3456_7000),
        gs_base_kernel: Some(0xFFFF_8880_3FC0_0000),
        gs_base_user: Some(0x0000_7F00_0000_1000),
        fpu: Some(distinct_fxsave(8)),
        efer: None,
        system: None,
        recorded: true,
    }
}

/// A 32-bit PV vCPU (x86_32 / compat layout) with a distinct value in every field.
fn distinct_state_32() -> VcpuState {
    VcpuState {
        slot: 0,
        layout: ContextLayout::X86_32,
        guest_kind: GuestKind::Pv,
        flags: VGCF_ONLINE | VGCF_IN_KERNEL,
        gprs: Gprs {
            rax: 0xB000_0001,
            rbx: 0xB000_0002,
            rcx: 0xB000_0003,
            rdx: 0xB000_0004,
            rsi: 0xB000_0005,
            rdi: 0xB000_0006,
            rbp: 0xB000_0007,
            rsp: 0xB000_0008,
            ..Gprs::default()
        },
        rip: 0xC010_1234,
        rflags: 0x0000_0286,
        selectors: Selectors {
            cs: 0xE019,
            ss: 0xE021,
            ds: 0x007B,
            es: 0x0073,
            fs: 0x00D8,
            gs: 0x00E0,
        },
        ctrlreg: [
            0x8005_003B,
            0x11,
            0xC0DE_0000,
            0x0012_3401,
            0x0000_06F0,
            0x55,
            0x66,
            0x77,
        ],
        debugreg: [0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xFFFF_0FF0, 0x0000_0400],
        fs_base: None,
        gs_base_kernel: None,
        gs_base_user: None,
        fpu: Some(distinct_fxsave(4)),
        efer: None,
        system: None,
        recorded: true,
    }
}

/// Offset of the register called `name` according to the layout (not the spec).
fn layout_offset<I: RegId>(names: &[&str], name: &str) -> usize {
    let index = names.iter().position(|n| *n == name).unwrap();
    g_packet_layout::<I>()[index].offset
}

// ---------------------------------------------------------------------------------------
// Sizes and offsets

/// gdbstub_arch's invariant: bytes written == sum of register sizes over all raw ids.
fn assert_serialized_len_matches_reg_ids<R: Registers, I: RegId>(regs: &R, expected: usize) {
    let blob = serialize(regs);
    let mut sum = 0;
    let mut raw_id = 0;
    while let Some((_, size)) = I::from_raw_id(raw_id) {
        sum += size.expect("every register has a size").get();
        raw_id += 1;
    }
    assert_eq!(blob.len(), sum);
    assert_eq!(sum, expected);
}

#[test]
fn serialized_length_is_sum_of_register_sizes() {
    assert_serialized_len_matches_reg_ids::<_, X86_64XenRegId>(&X86_64Regs::default(), 560 + 80);
    assert_serialized_len_matches_reg_ids::<_, X86_64XenRegId>(
        &X86_64Regs::from_state(&distinct_state()),
        X86_64_G_PACKET_LEN,
    );
    assert_serialized_len_matches_reg_ids::<_, I386XenRegId>(&I386Regs::default(), 320 + 40);
    assert_serialized_len_matches_reg_ids::<_, I386XenRegId>(
        &I386Regs::from_state(&distinct_state_32()),
        I386_G_PACKET_LEN,
    );
}

#[test]
fn raw_id_counts_and_names() {
    assert_eq!(g_packet_layout::<X86_64XenRegId>().len(), 70);
    assert_eq!(g_packet_layout::<I386XenRegId>().len(), 54);
    assert!(X86_64XenRegId::from_raw_id(70).is_none());
    assert!(I386XenRegId::from_raw_id(54).is_none());
    for (raw, name) in X86_64_REGISTER_NAMES.iter().enumerate() {
        let (id, _) = X86_64XenRegId::from_raw_id(raw).unwrap();
        assert_eq!(id.to_raw_id(), Some(raw), "{id:?}");
        assert_eq!(id.name(), Some(*name));
        if let X86_64XenRegId::Sys(sys) = id {
            assert_eq!(sys.name(), *name);
        }
    }
    for (raw, name) in I386_REGISTER_NAMES.iter().enumerate() {
        let (id, _) = I386XenRegId::from_raw_id(raw).unwrap();
        assert_eq!(id.to_raw_id(), Some(raw), "{id:?}");
        if let I386XenRegId::Sys(sys) = id {
            assert_eq!(sys.name(), *name);
        }
    }
    assert!(matches!(
        X86_64XenRegId::from_raw_id(1),
        Some((X86_64XenRegId::Core(X86_64CoreRegId::Gpr(1)), _))
    ));
    assert!(matches!(
        I386XenRegId::from_raw_id(3),
        Some((I386XenRegId::Core(X86CoreRegId::Ebx), _))
    ));
    assert!(matches!(
        X86_64XenRegId::from_raw_id(57),
        Some((X86_64XenRegId::OrigRax, _))
    ));
    assert!(matches!(
        X86_64XenRegId::from_raw_id(62),
        Some((X86_64XenRegId::Sys(SysRegId::Cr3), _))
    ));
    assert!(matches!(
        I386XenRegId::from_raw_id(42),
        Some((I386XenRegId::FsBase, _))
    ));
    assert!(matches!(
        I386XenRegId::from_raw_id(46),
        Some((I386XenRegId::Sys(SysRegId::Cr3), _))
    ));
}

#[test]
fn amd64_offsets_match_the_spec() {
    let names = &X86_64_REGISTER_NAMES;
    let offset = |name| layout_offset::<X86_64XenRegId>(names, name);
    // §7.1
    for (name, expected) in [
        ("rax", 0),
        ("rsp", 56),
        ("r8", 64),
        ("r15", 120),
        ("rip", 128),
        ("eflags", 136),
        ("cs", 140),
        ("gs", 160),
        ("st0", 164),
        ("st7", 234),
        ("fctrl", 244),
        ("ftag", 252),
        ("fop", 272),
        ("xmm0", 276),
        ("xmm15", 516),
        ("mxcsr", 532),
        ("orig_rax", 536),
        ("fs_base", 544),
        ("gs_base", 552),
        // The system feature follows directly: 8 bytes each.
        ("cr0", 560),
        ("cr2", 568),
        ("cr3", 576),
        ("cr4", 584),
        ("dr0", 592),
        ("dr3", 616),
        ("dr6", 624),
        ("dr7", 632),
    ] {
        assert_eq!(offset(name), expected, "{name}");
    }
}

#[test]
fn i386_offsets_match_the_spec() {
    let names = &I386_REGISTER_NAMES;
    let offset = |name| layout_offset::<I386XenRegId>(names, name);
    // §7.2
    for (name, expected) in [
        ("eax", 0),
        ("ebx", 12),
        ("edi", 28),
        ("eip", 32),
        ("eflags", 36),
        ("cs", 40),
        ("gs", 60),
        ("st0", 64),
        ("fctrl", 144),
        ("fop", 172),
        ("xmm0", 176),
        ("xmm7", 288),
        ("mxcsr", 304),
        ("orig_eax", 308),
        ("fs_base", 312),
        ("gs_base", 316),
        ("cr0", 320),
        ("cr3", 328),
        ("dr7", 356),
    ] {
        assert_eq!(offset(name), expected, "{name}");
    }
}

// ---------------------------------------------------------------------------------------
// Values land in their slots

#[test]
fn amd64_every_field_lands_in_its_slot() {
    let state = distinct_state();
    let blob = serialize(&X86_64Regs::from_state(&state));
    let g = &state.gprs;
    // §7.1 GPR order: rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp, r8..r15.
    let gprs = [
        g.rax, g.rbx, g.rcx, g.rdx, g.rsi, g.rdi, g.rbp, g.rsp, g.r8, g.r9, g.r10, g.r11, g.r12,
        g.r13, g.r14, g.r15,
    ];
    for (i, value) in gprs.into_iter().enumerate() {
        assert_eq!(u64_at(&blob, 8 * i), value, "gpr {i}");
    }
    assert_eq!(u64_at(&blob, 128), 0xFFFF_FFFF_8100_1234);
    assert_eq!(u32_at(&blob, 136), 0x0024_0246);
    for (offset, value) in [
        (140, 0xE033),
        (144, 0xE02B),
        (148, 0x002B),
        (152, 0x0023),
        (156, 0x0063),
        (160, 0x006B),
    ] {
        assert_eq!(u32_at(&blob, offset), value, "segment @{offset}");
    }
    for i in 0..8 {
        assert_eq!(bytes_at(&blob, 164 + 10 * i, 10), st_value(i), "st{i}");
    }
    assert_eq!(u32_at(&blob, 244), 0x0362, "fctrl");
    assert_eq!(u32_at(&blob, 248), 0x3800, "fstat");
    // TOP = 7, only physical 7 in use and it holds 1.0 (valid): 0x3FFF.
    assert_eq!(u32_at(&blob, 252), 0x3FFF, "ftag");
    // 64-bit format (byte 511 = 8): fiseg/foseg are FIP/FDP[63:32].
    assert_eq!(u32_at(&blob, 256), 0x10, "fiseg");
    assert_eq!(u32_at(&blob, 260), 0x4444_1111, "fioff");
    assert_eq!(u32_at(&blob, 264), 0x18, "foseg");
    assert_eq!(u32_at(&blob, 268), 0x5555_2222, "fooff");
    assert_eq!(u32_at(&blob, 272), 0x0123, "fop");
    for i in 0..16 {
        assert_eq!(u128_at(&blob, 276 + 16 * i), xmm_value(i), "xmm{i}");
    }
    assert_eq!(u32_at(&blob, 532), 0x1F81, "mxcsr");
    assert!(is_unavailable(&blob, 536, 8), "orig_rax must be xx");
    assert_eq!(u64_at(&blob, 544), 0x0000_7F12_3456_7000, "fs_base");
    // PV in kernel mode: the kernel GS base was live.
    assert_eq!(u64_at(&blob, 552), 0xFFFF_8880_3FC0_0000, "gs_base");
    for (offset, value) in [
        (560, 0x8005_003B),
        (568, 0x7F00_0000_0ABC),
        (576, 0x0000_0012_3456_7000),
        (584, 0x0037_06F0),
        (592, 0xD000_0000_0000_0000),
        (600, 0xD000_0000_0000_0001),
        (608, 0xD000_0000_0000_0002),
        (616, 0xD000_0000_0000_0003),
        (624, 0xFFFF_0FF0),
        (632, 0x0000_0400),
    ] {
        assert_eq!(u64_at(&blob, offset), value, "system register @{offset}");
    }
    assert_eq!(blob.len(), 640);
    // Only orig_rax is unavailable.
    assert_eq!(blob.iter().filter(|b| b.is_none()).count(), 8);
}

#[test]
fn i386_every_field_lands_in_its_slot() {
    let state = distinct_state_32();
    let blob = serialize(&I386Regs::from_state(&state));
    // §7.2 GPR order: eax, ecx, edx, ebx, esp, ebp, esi, edi.
    for (offset, value) in [
        (0, 0xB000_0001),
        (4, 0xB000_0003),
        (8, 0xB000_0004),
        (12, 0xB000_0002),
        (16, 0xB000_0008),
        (20, 0xB000_0007),
        (24, 0xB000_0005),
        (28, 0xB000_0006),
        (32, 0xC010_1234),
        (36, 0x0000_0286),
        (40, 0xE019),
        (44, 0xE021),
        (48, 0x007B),
        (52, 0x0073),
        (56, 0x00D8),
        (60, 0x00E0),
    ] {
        assert_eq!(u32_at(&blob, offset), value, "@{offset}");
    }
    for i in 0..8 {
        assert_eq!(bytes_at(&blob, 64 + 10 * i, 10), st_value(i), "st{i}");
    }
    // 32-bit format (byte 511 = 4): fiseg/foseg are the 16-bit selectors.
    for (offset, value) in [
        (144, 0x0362),
        (148, 0x3800),
        (152, 0x3FFF),
        (156, 0x10),
        (160, 0x4444_1111),
        (164, 0x18),
        (168, 0x5555_2222),
        (172, 0x0123),
    ] {
        assert_eq!(u32_at(&blob, offset), value, "fpu @{offset}");
    }
    for i in 0..8 {
        assert_eq!(u128_at(&blob, 176 + 16 * i), xmm_value(i), "xmm{i}");
    }
    assert_eq!(u32_at(&blob, 304), 0x1F81, "mxcsr");
    assert!(is_unavailable(&blob, 308, 4), "orig_eax must be xx");
    // An x86_32 context holds no bases: unavailable unless the thread layer finds them.
    assert!(is_unavailable(&blob, 312, 8), "fs_base, gs_base");
    for (offset, value) in [
        (320, 0x8005_003B),
        (324, 0xC0DE_0000),
        (328, 0x0012_3401),
        (332, 0x0000_06F0),
        (336, 0xD0),
        (340, 0xD1),
        (344, 0xD2),
        (348, 0xD3),
        (352, 0xFFFF_0FF0),
        (356, 0x0000_0400),
    ] {
        assert_eq!(u32_at(&blob, offset), value, "system register @{offset}");
    }
    assert_eq!(blob.len(), 360);
    assert_eq!(blob.iter().filter(|b| b.is_none()).count(), 12);
}

#[test]
fn i386_from_a_64_bit_layout_uses_the_low_halves() {
    // A 32-bit HVM guest on 64-bit Xen: x86_64 layout, values in the low 32 bits.
    let mut state = distinct_state();
    state.guest_kind = GuestKind::Hvm;
    state.gprs.rax = 0xDEAD_BEEF_0000_1111;
    state.rip = 0x0000_0001_C000_0010;
    state.ctrlreg[3] = 0x0000_0001_0ABC_D000;
    let blob = serialize(&I386Regs::from_state(&state));
    assert_eq!(u32_at(&blob, 0), 0x0000_1111, "eax");
    assert_eq!(u32_at(&blob, 12), 0x0000_0002, "ebx");
    assert_eq!(u32_at(&blob, 32), 0xC000_0010, "eip");
    assert_eq!(u32_at(&blob, 328), 0x0ABC_D000, "cr3");
    assert_eq!(u128_at(&blob, 288), xmm_value(7), "xmm7");
    // The context's bases, where it has them: their low halves.
    assert_eq!(u32_at(&blob, 312), 0x3456_7000, "fs_base");
}

#[test]
fn values_worked_out_by_the_thread_layer_replace_the_stored_ones() {
    let state = distinct_state_32();
    let vcpu = crate::threads::VcpuRegisters {
        state: &state,
        cr3: None,
        fs_base: Some(0x1f40_0000),
        gs_base: None,
    };
    let blob = serialize(&I386Xen::registers_from_vcpu(&vcpu, Width::Bits32));
    assert_eq!(u32_at(&blob, 312), 0x1f40_0000, "fs_base");
    assert!(is_unavailable(&blob, 316, 4), "gs_base");
    assert!(is_unavailable(&blob, 328, 4), "cr3 unknown");
    assert_eq!(u32_at(&blob, 320), 0x8005_003B, "cr0 as stored");
    let state = distinct_state();
    let vcpu = crate::threads::VcpuRegisters {
        state: &state,
        cr3: Some(0x4e4c000),
        fs_base: None,
        gs_base: Some(7),
    };
    let blob = serialize(&X86_64Xen::registers_from_vcpu(&vcpu, Width::Bits64));
    assert_eq!(u64_at(&blob, 576), 0x4e4c000, "cr3");
    assert!(is_unavailable(&blob, 544, 8), "fs_base");
    assert_eq!(u64_at(&blob, 552), 7, "gs_base");
}

#[test]
fn active_gs_base_follows_the_mode() {
    let kernel_gs = 0xFFFF_8880_3FC0_0000;
    let user_gs = 0x0000_7F00_0000_1000;
    let gs_of = |state: &VcpuState| u64_at(&serialize(&X86_64Regs::from_state(state)), 552);

    let mut pv_user = distinct_state();
    pv_user.flags = VGCF_ONLINE;
    assert_eq!(gs_of(&pv_user), user_gs);

    let mut hvm_kernel = distinct_state();
    hvm_kernel.guest_kind = GuestKind::Hvm;
    hvm_kernel.flags = VGCF_ONLINE;
    hvm_kernel.selectors.cs = 0x0010;
    assert_eq!(gs_of(&hvm_kernel), kernel_gs);

    let mut hvm_user = hvm_kernel.clone();
    hvm_user.selectors.cs = 0x0033;
    assert_eq!(gs_of(&hvm_user), user_gs);
}

#[test]
fn missing_bases_are_unavailable_not_zero() {
    let mut state = distinct_state();
    state.fs_base = None;
    state.gs_base_kernel = None;
    state.gs_base_user = None;
    let blob = serialize(&X86_64Regs::from_state(&state));
    assert!(is_unavailable(&blob, 544, 8), "fs_base");
    assert!(is_unavailable(&blob, 552, 8), "gs_base");
    assert_eq!(u64_at(&blob, 560), 0x8005_003B, "cr0 still in place");
}

#[test]
fn absent_fpu_state_sends_reset_values() {
    let mut state = distinct_state();
    state.fpu = None;
    let blob = serialize(&X86_64Regs::from_state(&state));
    assert_eq!(u32_at(&blob, 244), 0x037F, "fctrl");
    assert_eq!(u32_at(&blob, 248), 0, "fstat");
    assert_eq!(u32_at(&blob, 252), 0xFFFF, "ftag");
    assert_eq!(u32_at(&blob, 532), 0x1F80, "mxcsr");
    assert_eq!(bytes_at(&blob, 164, 80), vec![0; 80], "st0-7");
    assert_eq!(bytes_at(&blob, 276, 256), vec![0; 256], "xmm0-15");
}

#[test]
fn unrecorded_fxsave_format_follows_the_hypervisor_width() {
    let mut state = distinct_state_32();
    state.fpu = Some(distinct_fxsave(0));
    // Put junk where the two formats differ (bytes 14-15).
    if let Some(FxSave(raw)) = state.fpu.as_mut() {
        raw[14] = 0xAB;
    }
    let on_32 = serialize(&I386Regs::from_state_with_hypervisor(&state, Width::Bits32));
    let on_64 = serialize(&I386Regs::from_state_with_hypervisor(&state, Width::Bits64));
    assert_eq!(u32_at(&on_32, 156), 0x0000_0010);
    assert_eq!(u32_at(&on_64, 156), 0x00AB_0010);
    // The default guess for an x86_32 layout is 32-bit Xen.
    assert_eq!(serialize(&I386Regs::from_state(&state)), on_32);
}

// ---------------------------------------------------------------------------------------
// Deserialising and single registers

#[test]
fn amd64_round_trip() {
    let mut regs = X86_64Regs::from_state(&distinct_state());
    regs.orig_rax = Some(0xFFFF_FFFF_FFFF_FFFF);
    let bytes: Vec<u8> = serialize(&regs).into_iter().map(Option::unwrap).collect();
    let mut parsed = X86_64Regs::default();
    parsed.gdb_deserialize(&bytes).unwrap();
    assert_eq!(parsed, regs);
}

#[test]
fn i386_round_trip() {
    let mut regs = I386Regs::from_state(&distinct_state_32());
    regs.orig_eax = Some(0x1234_5678);
    regs.fs_base = Some(0x1f40_0000);
    regs.gs_base = Some(0);
    let bytes: Vec<u8> = serialize(&regs).into_iter().map(Option::unwrap).collect();
    let mut parsed = I386Regs::default();
    parsed.gdb_deserialize(&bytes).unwrap();
    assert_eq!(parsed, regs);
}

#[test]
fn deserialize_reads_each_slot() {
    // A G packet whose byte at offset k is k (mod 256): check a few slots directly.
    let bytes: Vec<u8> = (0..X86_64_G_PACKET_LEN).map(|k| k as u8).collect();
    let mut regs = X86_64Regs::default();
    regs.gdb_deserialize(&bytes).unwrap();
    let le64 = |off: usize| u64::from_le_bytes(bytes[off..off + 8].try_into().unwrap());
    assert_eq!(regs.core.rip, le64(128));
    assert_eq!(regs.orig_rax, Some(le64(536)));
    assert_eq!(regs.fs_base, Some(le64(544)));
    assert_eq!(regs.gs_base, Some(le64(552)));
    assert_eq!(regs.sys.cr0, le64(560));
    assert_eq!(regs.sys.cr3, Some(le64(576)));
    assert_eq!(regs.sys.dr7, le64(632));

    let bytes: Vec<u8> = (0..I386_G_PACKET_LEN).map(|k| k as u8).collect();
    let mut regs = I386Regs::default();
    regs.gdb_deserialize(&bytes).unwrap();
    let le32 = |off: usize| u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap());
    assert_eq!(regs.core.eip, le32(32));
    assert_eq!(regs.orig_eax, Some(le32(308)));
    assert_eq!(regs.fs_base, Some(le32(312)));
    assert_eq!(regs.gs_base, Some(le32(316)));
    assert_eq!(regs.sys.cr0, le32(320));
    assert_eq!(regs.sys.cr3, Some(le32(328)));
    assert_eq!(regs.sys.dr7, le32(356));
}

#[test]
fn deserialize_rejects_wrong_lengths_and_leaves_registers_alone() {
    let original = X86_64Regs::from_state(&distinct_state());
    for len in [0, 536, 639, 641] {
        let mut regs = original.clone();
        assert!(regs.gdb_deserialize(&vec![0; len]).is_err(), "len {len}");
        assert_eq!(regs, original);
    }
    let original = I386Regs::from_state(&distinct_state_32());
    for len in [0, 308, 359, 361] {
        let mut regs = original.clone();
        assert!(regs.gdb_deserialize(&vec![0; len]).is_err(), "len {len}");
        assert_eq!(regs, original);
    }
}

#[test]
fn single_register_reads() {
    let regs = X86_64Regs::from_state(&distinct_state());
    let mut buf = [0u8; 64];
    let (rip, _) = X86_64XenRegId::from_raw_id(16).unwrap();
    assert_eq!(regs.read_register(rip, &mut buf), 8);
    assert_eq!(buf[..8], 0xFFFF_FFFF_8100_1234u64.to_le_bytes());
    let (cr3, _) = X86_64XenRegId::from_raw_id(62).unwrap();
    assert_eq!(regs.read_register(cr3, &mut buf), 8);
    assert_eq!(buf[..8], 0x0000_0012_3456_7000u64.to_le_bytes());
    let (st0, _) = X86_64XenRegId::from_raw_id(24).unwrap();
    assert_eq!(regs.read_register(st0, &mut buf), 10);
    assert_eq!(buf[..10], ONE);
    assert_eq!(regs.read_register(X86_64XenRegId::OrigRax, &mut buf), 0);

    let regs = I386Regs::from_state(&distinct_state_32());
    let (ebx, _) = I386XenRegId::from_raw_id(3).unwrap();
    assert_eq!(I386Xen::read_register(&regs, ebx, &mut buf), 4);
    assert_eq!(buf[..4], 0xB000_0002u32.to_le_bytes());
    assert_eq!(regs.read_register(I386XenRegId::OrigEax, &mut buf), 0);
    assert_eq!(
        regs.read_register(I386XenRegId::Sys(SysRegId::Dr6), &mut buf),
        4
    );
    assert_eq!(buf[..4], 0xFFFF_0FF0u32.to_le_bytes());
}

#[test]
fn pc_is_the_instruction_pointer() {
    assert_eq!(
        X86_64Xen::registers_from_state(&distinct_state(), Width::Bits64).pc(),
        0xFFFF_FFFF_8100_1234
    );
    assert_eq!(
        I386Xen::registers_from_state(&distinct_state_32(), Width::Bits64).pc(),
        0xC010_1234
    );
}

// ---------------------------------------------------------------------------------------
// Target descriptions

/// A start tag of the target description, with the names of its open ancestors.
#[derive(Debug)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    ancestors: Vec<String>,
}

impl Element {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')
}

/// A deliberately small XML well-formedness check, enough for target descriptions:
/// prolog, comments, DOCTYPE, nested elements with quoted attributes, plain text.
fn parse_xml(text: &str) -> Result<Vec<Element>, String> {
    let mut elements = Vec::new();
    let mut open: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut rest = text;
    while let Some(lt) = rest.find('<') {
        let between = &rest[..lt];
        if between.contains('>') || between.contains('&') {
            return Err(format!("stray markup in text {between:?}"));
        }
        if open.is_empty() && !between.trim().is_empty() {
            return Err(format!("text outside the root element: {between:?}"));
        }
        rest = &rest[lt..];
        if let Some(body) = rest.strip_prefix("<!--") {
            let end = body.find("-->").ok_or("unterminated comment")?;
            if body[..end].contains("--") {
                return Err("'--' inside a comment".into());
            }
            rest = &body[end + 3..];
        } else if let Some(body) = rest.strip_prefix("<?") {
            if !elements.is_empty() || roots > 0 {
                return Err("processing instruction after the root".into());
            }
            let end = body.find("?>").ok_or("unterminated <?")?;
            rest = &body[end + 2..];
        } else if let Some(body) = rest.strip_prefix("<!DOCTYPE") {
            let end = body.find('>').ok_or("unterminated DOCTYPE")?;
            rest = &body[end + 1..];
        } else if let Some(body) = rest.strip_prefix("</") {
            let end = body.find('>').ok_or("unterminated end tag")?;
            let name = body[..end].trim_end();
            match open.pop() {
                Some(top) if top == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
            rest = &body[end + 1..];
        } else {
            let body = &rest[1..];
            let end = body.find('>').ok_or("unterminated start tag")?;
            let mut tag = &body[..end];
            let self_closing = tag.ends_with('/');
            if self_closing {
                tag = &tag[..tag.len() - 1];
            }
            let name_len = tag.find(|c: char| !is_name_char(c)).unwrap_or(tag.len());
            let name = &tag[..name_len];
            if name.is_empty() {
                return Err(format!("tag without a name: <{tag}>"));
            }
            let mut attrs: Vec<(String, String)> = Vec::new();
            let mut attr_text = &tag[name_len..];
            loop {
                let trimmed = attr_text.trim_start();
                if trimmed.is_empty() {
                    break;
                }
                if trimmed.len() == attr_text.len() {
                    return Err(format!("attributes of <{name}> not separated by space"));
                }
                let eq = trimmed
                    .find('=')
                    .ok_or(format!("attribute without value in <{name}>"))?;
                let key = &trimmed[..eq];
                if key.is_empty() || !key.chars().all(is_name_char) {
                    return Err(format!("bad attribute name {key:?} in <{name}>"));
                }
                let value_part = trimmed[eq + 1..]
                    .strip_prefix('"')
                    .ok_or(format!("unquoted attribute {key} in <{name}>"))?;
                let close = value_part.find('"').ok_or("unterminated attribute value")?;
                let value = &value_part[..close];
                if value.contains('<') || value.contains('&') {
                    return Err(format!("markup in attribute {key}"));
                }
                if attrs.iter().any(|(k, _)| k == key) {
                    return Err(format!("duplicate attribute {key} in <{name}>"));
                }
                attrs.push((key.to_string(), value.to_string()));
                attr_text = &value_part[close + 1..];
            }
            if open.is_empty() {
                roots += 1;
            }
            elements.push(Element {
                name: name.to_string(),
                attrs,
                ancestors: open.clone(),
            });
            if !self_closing {
                open.push(name.to_string());
            }
            rest = &body[end + 1..];
        }
    }
    if !rest.trim().is_empty() {
        return Err(format!("trailing text {rest:?}"));
    }
    if !open.is_empty() {
        return Err(format!("unclosed elements {open:?}"));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(elements)
}

#[test]
fn xml_checker_rejects_broken_documents() {
    assert!(parse_xml("<target><feature></target>").is_err());
    assert!(parse_xml("<target><reg name=rax/></target>").is_err());
    assert!(parse_xml("<target><reg name=\"a\" name=\"b\"/></target>").is_err());
    assert!(parse_xml("<target/><target/>").is_err());
    assert!(parse_xml("<target><!-- a -- b --></target>").is_err());
    assert!(parse_xml("<?xml version=\"1.0\"?><target><reg name=\"a\"/></target>").is_ok());
}

/// Check `xml` against the register layout of `I` and the expected names.
fn check_description<I: RegId>(xml: &str, architecture: &str, names: &[&str], features: &[&str]) {
    let elements = parse_xml(xml).unwrap_or_else(|e| panic!("target XML is not well-formed: {e}"));
    assert_eq!(elements[0].name, "target");
    assert_eq!(elements[0].attr("version"), Some("1.0"));

    let arch_start = xml.find("<architecture>").unwrap() + "<architecture>".len();
    let arch_end = xml.find("</architecture>").unwrap();
    assert_eq!(&xml[arch_start..arch_end], architecture);

    assert!(
        elements.iter().all(|e| !e.name.starts_with("xi:")),
        "descriptions must be self-contained"
    );

    let feature_names: Vec<&str> = elements
        .iter()
        .filter(|e| e.name == "feature")
        .map(|e| e.attr("name").unwrap())
        .collect();
    assert_eq!(feature_names, features);

    let regs: Vec<&Element> = elements.iter().filter(|e| e.name == "reg").collect();
    let layout = g_packet_layout::<I>();
    assert_eq!(regs.len(), layout.len(), "register count");
    let mut next_regnum = 0;
    for ((reg, slot), name) in regs.iter().zip(&layout).zip(names) {
        assert_eq!(
            reg.ancestors,
            ["target", "feature"],
            "{name} is inside a feature"
        );
        assert_eq!(reg.attr("name"), Some(*name), "register #{}", slot.raw_id);
        let bits: usize = reg.attr("bitsize").unwrap().parse().unwrap();
        assert_eq!(bits, 8 * slot.size, "bitsize of {name}");
        if let Some(regnum) = reg.attr("regnum") {
            assert_eq!(
                regnum.parse::<usize>().unwrap(),
                next_regnum,
                "regnum of {name}"
            );
        }
        next_regnum = slot.raw_id + 1;
        assert!(reg.attr("type").is_some(), "type of {name}");
    }
}

#[test]
fn amd64_description_matches_the_serializer() {
    check_description::<X86_64XenRegId>(
        X86_64Xen::target_description_xml().unwrap(),
        "i386:x86-64",
        &X86_64_REGISTER_NAMES,
        &[
            "org.gnu.gdb.i386.core",
            "org.gnu.gdb.i386.sse",
            "org.gnu.gdb.i386.linux",
            "org.gnu.gdb.i386.segments",
            "org.xendump.x86.sys",
        ],
    );
}

#[test]
fn i386_description_matches_the_serializer() {
    check_description::<I386XenRegId>(
        I386Xen::target_description_xml().unwrap(),
        "i386",
        &I386_REGISTER_NAMES,
        &[
            "org.gnu.gdb.i386.core",
            "org.gnu.gdb.i386.sse",
            "org.gnu.gdb.i386.linux",
            "org.xendump.i386.segments",
            "org.xendump.x86.sys",
        ],
    );
}

#[test]
fn register_names_are_those_of_gdbs_features() {
    // Spot checks against gdb's 64bit-core.xml / 32bit-core.xml orders.
    assert_eq!(
        &X86_64_REGISTER_NAMES[..8],
        ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp"]
    );
    assert_eq!(
        &I386_REGISTER_NAMES[..8],
        ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"]
    );
    assert_eq!(X86_64_REGISTER_NAMES[57], "orig_rax");
    assert_eq!(I386_REGISTER_NAMES[41], "orig_eax");
}

// ---------------------------------------------------------------------------------------
// A sleeping task's registers: what its switch frame saved, the rest unavailable

fn saved_64() -> SavedRegisters {
    SavedRegisters {
        ip: Some(0xFFFF_FFFF_8100_4010),
        sp: Some(0xFFFF_C900_0001_3E38),
        bp: Some(0xB9B0_0001),
        bx: Some(0xB8B0_0001),
        r12: Some(0x1200_0001),
        r13: Some(0x1300_0001),
        r14: Some(0x1400_0001),
        r15: Some(0x1500_0001),
        ..SavedRegisters::default()
    }
}

#[test]
fn amd64_saved_registers_are_served_and_nothing_else() {
    let regs = X86_64Regs::from_saved(&saved_64());
    let blob = serialize(&regs);
    assert_eq!(blob.len(), X86_64_G_PACKET_LEN);
    let names = &X86_64_REGISTER_NAMES;
    let at = |name: &str| layout_offset::<X86_64XenRegId>(names, name);
    for (name, value) in [
        ("rip", 0xFFFF_FFFF_8100_4010),
        ("rsp", 0xFFFF_C900_0001_3E38),
        ("rbp", 0xB9B0_0001),
        ("rbx", 0xB8B0_0001),
        ("r12", 0x1200_0001),
        ("r13", 0x1300_0001),
        ("r14", 0x1400_0001),
        ("r15", 0x1500_0001),
    ] {
        assert_eq!(u64_at(&blob, at(name)), value, "{name}");
    }
    let layout = g_packet_layout::<X86_64XenRegId>();
    let served = ["rip", "rsp", "rbp", "rbx", "r12", "r13", "r14", "r15"];
    for slot in &layout {
        let name = names[slot.raw_id];
        if !served.contains(&name) {
            assert!(
                is_unavailable(&blob, slot.offset, slot.size),
                "{name} should be unavailable"
            );
        }
    }
    // `p` agrees: 0 bytes (unavailable) for rax, 8 for rip.
    let mut buf = [0u8; 64];
    let (rax, _) = X86_64XenRegId::from_raw_id(0).unwrap();
    assert_eq!(regs.read_register(rax, &mut buf), 0);
    let (rip, _) = X86_64XenRegId::from_raw_id(16).unwrap();
    assert_eq!(regs.read_register(rip, &mut buf), 8);
    assert_eq!(regs.pc(), 0xFFFF_FFFF_8100_4010);
    // A register the frame did not hold stays unavailable even if it is "known".
    let partial = X86_64Regs::from_saved(&SavedRegisters {
        ip: Some(1),
        ..SavedRegisters::default()
    });
    let blob = serialize(&partial);
    assert!(is_unavailable(&blob, at("rsp"), 8));
    assert_eq!(u64_at(&blob, at("rip")), 1);
    // Nothing saved: every byte unavailable.
    let none = serialize(&X86_64Regs::from_saved(&SavedRegisters::default()));
    assert!(none.iter().all(Option::is_none));
}

#[test]
fn i386_saved_registers_are_served_and_nothing_else() {
    let saved = SavedRegisters {
        ip: Some(0xC100_4010),
        sp: Some(0xC7F0_1F38),
        bp: Some(0xB9B0_0002),
        bx: Some(0xB8B0_0002),
        si: Some(0x5151_0002),
        di: Some(0xD1D1_0002),
        flags: Some(0x246),
        ..SavedRegisters::default()
    };
    let regs = I386Regs::from_saved(&saved);
    let blob = serialize(&regs);
    assert_eq!(blob.len(), I386_G_PACKET_LEN);
    let names = &I386_REGISTER_NAMES;
    let at = |name: &str| layout_offset::<I386XenRegId>(names, name);
    let served = [
        ("eip", 0xC100_4010u32),
        ("esp", 0xC7F0_1F38),
        ("ebp", 0xB9B0_0002),
        ("ebx", 0xB8B0_0002),
        ("esi", 0x5151_0002),
        ("edi", 0xD1D1_0002),
        ("eflags", 0x246),
    ];
    for (name, value) in served {
        assert_eq!(u32_at(&blob, at(name)), value, "{name}");
    }
    for slot in g_packet_layout::<I386XenRegId>() {
        let name = names[slot.raw_id];
        if !served.iter().any(|(n, _)| *n == name) {
            assert!(
                is_unavailable(&blob, slot.offset, slot.size),
                "{name} should be unavailable"
            );
        }
    }
}

#[test]
fn vcpu_registers_are_all_available_and_a_g_packet_round_trip_keeps_them_so() {
    let regs = X86_64Regs::from_state(&distinct_state());
    assert!(regs.unavailable.is_empty());
    let mut back = X86_64Regs::from_saved(&saved_64());
    let bytes: Vec<u8> = serialize(&regs)
        .into_iter()
        .map(|b| b.unwrap_or(0))
        .collect();
    back.gdb_deserialize(&bytes).unwrap();
    assert!(back.unavailable.is_empty());
    assert_eq!(back.core, regs.core);
}
