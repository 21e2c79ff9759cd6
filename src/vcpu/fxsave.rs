//! Decoding of the FXSAVE image (`fpu_ctxt`) into the x87/SSE registers gdb shows.
//!
//! The conversion follows what gdb itself does for an FXSAVE area
//! (`i387_supply_fxsave`, plus `amd64_supply_fxsave` for the 64-bit pointer format):
//! 16-bit control fields are zero-extended, `fop` keeps its 11 opcode bits, and the
//! abridged one-bit-per-register tag byte is expanded back into the full two-bit
//! tag word by classifying the register contents.

use super::FxSave;
use super::VcpuState;
use crate::kinds::Width;

/// FCW after `FNINIT`: all exceptions masked, 64-bit precision, round to nearest.
pub const FCW_RESET: u16 = 0x037F;
/// Full tag word with every register empty.
pub const FTAG_ALL_EMPTY: u16 = 0xFFFF;
/// MXCSR after reset: all SIMD exceptions masked, round to nearest.
pub const MXCSR_RESET: u32 = 0x1F80;

/// Byte of the FXSAVE software area where Xen ≥ 4.3 records the FIP/FDP width (8, 4 or 2).
pub const FXSAVE_FIP_WIDTH_OFFSET: usize = 511;

/// Tag of one x87 register, as in the full (`FSTENV`) tag word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum X87Tag {
    /// A normal finite value.
    Valid = 0,
    /// +0 or −0.
    Zero = 1,
    /// NaN, infinity, denormal or an unsupported encoding.
    Special = 2,
    /// No value.
    Empty = 3,
}

impl X87Tag {
    /// Classify the 80-bit register `raw` (little-endian: 64-bit significand, then
    /// sign and 15-bit exponent), as the FPU would tag it.
    pub fn classify(raw: &[u8; 10]) -> X87Tag {
        let mut significand_bytes = [0u8; 8];
        significand_bytes.copy_from_slice(&raw[..8]);
        let significand = u64::from_le_bytes(significand_bytes);
        let exponent = u16::from_le_bytes([raw[8], raw[9]]) & 0x7FFF;
        // The explicit integer bit is bit 63 of the significand.
        let integer_bit = significand >> 63 != 0;
        match exponent {
            0x7FFF => X87Tag::Special,
            0 if significand == 0 => X87Tag::Zero,
            // Denormals and pseudo-denormals.
            0 => X87Tag::Special,
            _ if integer_bit => X87Tag::Valid,
            // "Unnormals": a non-zero exponent without the integer bit.
            _ => X87Tag::Special,
        }
    }
}

/// How FIP/FDP are stored in an FXSAVE image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FxSaveFormat {
    /// `FXSAVE64`: FIP and FDP are 64-bit offsets; bytes 12–15 / 20–23 hold their upper halves.
    Bits64,
    /// 32-bit format: FIP/FDP are 32-bit offsets with FCS at byte 12 and FDS at byte 20.
    Bits32,
}

impl FxSave {
    /// FPU control word (FCW).
    pub fn fcw(&self) -> u16 {
        self.u16_at(0)
    }

    /// FPU status word (FSW).
    pub fn fsw(&self) -> u16 {
        self.u16_at(2)
    }

    /// Top-of-stack pointer: the physical register that is ST(0).
    pub fn top(&self) -> u8 {
        ((self.fsw() >> 11) & 7) as u8
    }

    /// Abridged tag byte: bit p set means physical register p is not empty.
    pub fn abridged_tag(&self) -> u8 {
        self.0[4]
    }

    /// Last x87 opcode (11 bits; the upper 5 bits of the stored word are dropped).
    pub fn fop(&self) -> u16 {
        self.u16_at(6) & 0x07FF
    }

    /// SSE control/status register.
    pub fn mxcsr(&self) -> u32 {
        self.u32_at(24)
    }

    /// ST(0)–ST(7) in stack order, 10 bytes each.
    pub fn st(&self) -> [[u8; 10]; 8] {
        let mut st = [[0u8; 10]; 8];
        for (i, reg) in st.iter_mut().enumerate() {
            let start = 32 + 16 * i;
            reg.copy_from_slice(&self.0[start..start + 10]);
        }
        st
    }

    /// XMM0–XMM15 (XMM8–15 only mean something for 64-bit code).
    pub fn xmm(&self) -> [u128; 16] {
        let mut xmm = [0u128; 16];
        for (i, reg) in xmm.iter_mut().enumerate() {
            let start = 160 + 16 * i;
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(&self.0[start..start + 16]);
            *reg = u128::from_le_bytes(bytes);
        }
        xmm
    }

    /// The full x87 tag word rebuilt from the abridged tag and the register contents.
    ///
    /// Bits 2p+1:2p hold the tag of *physical* register p, which is ST((p − TOP) mod 8).
    pub fn full_tag_word(&self) -> u16 {
        let top = usize::from(self.top());
        let abridged = self.abridged_tag();
        let st = self.st();
        let mut ftag = 0u16;
        for physical in 0..8 {
            let tag = if abridged & (1 << physical) == 0 {
                X87Tag::Empty
            } else {
                X87Tag::classify(&st[(physical + 8 - top) % 8])
            };
            ftag |= (tag as u16) << (2 * physical);
        }
        ftag
    }

    /// Which FIP/FDP format the image uses.
    ///
    /// Xen ≥ 4.3 records the width it saved with in byte 511 (8 ⇒ 64-bit format, 4 or 2
    /// ⇒ 32-bit format). Older Xen left it 0; then the hypervisor's width decides,
    /// because 64-bit Xen always saved with `FXSAVE64` and 32-bit Xen could not.
    pub fn format(&self, hypervisor_width: Width) -> FxSaveFormat {
        match self.0[FXSAVE_FIP_WIDTH_OFFSET] {
            8 => FxSaveFormat::Bits64,
            4 | 2 => FxSaveFormat::Bits32,
            _ => match hypervisor_width {
                Width::Bits64 => FxSaveFormat::Bits64,
                Width::Bits32 => FxSaveFormat::Bits32,
            },
        }
    }

    fn u16_at(&self, offset: usize) -> u16 {
        u16::from_le_bytes([self.0[offset], self.0[offset + 1]])
    }

    fn u32_at(&self, offset: usize) -> u32 {
        u32::from_le_bytes([
            self.0[offset],
            self.0[offset + 1],
            self.0[offset + 2],
            self.0[offset + 3],
        ])
    }
}

/// The x87 and SSE registers of one vCPU, in the units gdb's i386 features use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FpuRegs {
    /// ST(0)–ST(7), stack order, 80-bit little-endian.
    pub st: [[u8; 10]; 8],
    /// Control word, zero-extended.
    pub fctrl: u32,
    /// Status word, zero-extended.
    pub fstat: u32,
    /// Full tag word (two bits per physical register).
    pub ftag: u32,
    /// FCS (32-bit format) or `FIP[63:32]` (64-bit format).
    pub fiseg: u32,
    /// `FIP[31:0]`.
    pub fioff: u32,
    /// FDS (32-bit format) or `FDP[63:32]` (64-bit format).
    pub foseg: u32,
    /// `FDP[31:0]`.
    pub fooff: u32,
    /// Last opcode, 11 bits.
    pub fop: u32,
    /// XMM0–XMM15.
    pub xmm: [u128; 16],
    /// SSE control/status.
    pub mxcsr: u32,
}

impl FpuRegs {
    /// The state after `FNINIT` + reset MXCSR, used when the dump holds no FPU state
    /// (`VGCF_i387_valid` clear): the vCPU had never touched the FPU, so this is what
    /// it would have seen.
    pub const RESET: FpuRegs = FpuRegs {
        st: [[0; 10]; 8],
        fctrl: FCW_RESET as u32,
        fstat: 0,
        ftag: FTAG_ALL_EMPTY as u32,
        fiseg: 0,
        fioff: 0,
        foseg: 0,
        fooff: 0,
        fop: 0,
        xmm: [0; 16],
        mxcsr: MXCSR_RESET,
    };

    /// Decode an FXSAVE image. `hypervisor_width` is only consulted when the image does
    /// not record its own FIP/FDP format (see [`FxSave::format`]).
    pub fn from_fxsave(image: &FxSave, hypervisor_width: Width) -> FpuRegs {
        let (fiseg, foseg) = match image.format(hypervisor_width) {
            FxSaveFormat::Bits64 => (image.u32_at(12), image.u32_at(20)),
            FxSaveFormat::Bits32 => (u32::from(image.u16_at(12)), u32::from(image.u16_at(20))),
        };
        FpuRegs {
            st: image.st(),
            fctrl: u32::from(image.fcw()),
            fstat: u32::from(image.fsw()),
            ftag: u32::from(image.full_tag_word()),
            fiseg,
            fioff: image.u32_at(8),
            foseg,
            fooff: image.u32_at(16),
            fop: u32::from(image.fop()),
            xmm: image.xmm(),
            mxcsr: image.mxcsr(),
        }
    }

    /// The FPU registers of `state`: decoded from its image, or [`FpuRegs::RESET`] when
    /// the dump says the image holds no state.
    pub fn from_state(state: &VcpuState, hypervisor_width: Width) -> FpuRegs {
        match &state.fpu {
            Some(image) => FpuRegs::from_fxsave(image, hypervisor_width),
            None => FpuRegs::RESET,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1.0 as an x87 extended value: significand 0x8000_0000_0000_0000, exponent 0x3FFF.
    const ONE: [u8; 10] = [0, 0, 0, 0, 0, 0, 0, 0x80, 0xFF, 0x3F];
    /// +0.0.
    const ZERO: [u8; 10] = [0; 10];
    /// −0.0: only the sign bit set.
    const NEG_ZERO: [u8; 10] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80];
    /// Quiet NaN: exponent all ones, significand 0xC000….
    const QNAN: [u8; 10] = [0, 0, 0, 0, 0, 0, 0, 0xC0, 0xFF, 0x7F];
    /// +infinity: exponent all ones, only the integer bit.
    const INFINITY: [u8; 10] = [0, 0, 0, 0, 0, 0, 0, 0x80, 0xFF, 0x7F];
    /// Smallest denormal: exponent 0, significand 1.
    const DENORMAL: [u8; 10] = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    /// Pseudo-denormal: exponent 0 with the integer bit set.
    const PSEUDO_DENORMAL: [u8; 10] = [0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0];
    /// Unnormal: exponent 0x3FFF, integer bit clear, fraction non-zero.
    const UNNORMAL: [u8; 10] = [0, 0, 0, 0, 0, 0, 0, 0x40, 0xFF, 0x3F];
    /// −2.5 = −1.25 · 2^1: significand 0xA000…, exponent 0x4000, sign set.
    const MINUS_2_5: [u8; 10] = [0, 0, 0, 0, 0, 0, 0, 0xA0, 0x00, 0xC0];

    fn image_with(fsw_top: u16, abridged: u8, st: &[(usize, [u8; 10])]) -> FxSave {
        let mut raw = [0u8; 512];
        raw[2..4].copy_from_slice(&(fsw_top << 11).to_le_bytes());
        raw[4] = abridged;
        for (index, value) in st {
            let start = 32 + 16 * index;
            raw[start..start + 10].copy_from_slice(value);
        }
        FxSave(raw)
    }

    #[test]
    fn classification_of_special_encodings() {
        assert_eq!(X87Tag::classify(&ONE), X87Tag::Valid);
        assert_eq!(X87Tag::classify(&MINUS_2_5), X87Tag::Valid);
        assert_eq!(X87Tag::classify(&ZERO), X87Tag::Zero);
        assert_eq!(X87Tag::classify(&NEG_ZERO), X87Tag::Zero);
        assert_eq!(X87Tag::classify(&QNAN), X87Tag::Special);
        assert_eq!(X87Tag::classify(&INFINITY), X87Tag::Special);
        assert_eq!(X87Tag::classify(&DENORMAL), X87Tag::Special);
        assert_eq!(X87Tag::classify(&PSEUDO_DENORMAL), X87Tag::Special);
        assert_eq!(X87Tag::classify(&UNNORMAL), X87Tag::Special);
    }

    #[test]
    fn empty_stack_is_all_ones() {
        let image = image_with(0, 0x00, &[(0, ONE), (3, QNAN)]);
        // Contents are ignored when the abridged bit says "empty".
        assert_eq!(image.full_tag_word(), 0xFFFF);
    }

    #[test]
    fn one_value_pushed_onto_an_empty_stack() {
        // FLD1 on an empty stack: TOP 0 → 7, physical register 7 = ST(0) = 1.0.
        let image = image_with(7, 0b1000_0000, &[(0, ONE)]);
        // Physical 7 valid (00) in bits 15:14, every other register empty (11).
        assert_eq!(image.full_tag_word(), 0x3FFF);
    }

    #[test]
    fn zero_on_top_of_a_valid_value() {
        // FLD1; FLDZ: TOP = 6, ST(0) = +0 in physical 6, ST(1) = 1.0 in physical 7.
        let image = image_with(6, 0b1100_0000, &[(0, ZERO), (1, ONE)]);
        // p7 = 00, p6 = 01, p5..p0 = 11: 0b00_01_11_11_11_11_11_11.
        assert_eq!(image.full_tag_word(), 0x1FFF);
    }

    #[test]
    fn nan_at_top_zero() {
        // TOP = 0: physical 0 = ST(0) holds a NaN.
        let image = image_with(0, 0b0000_0001, &[(0, QNAN)]);
        // p0 = 10, others 11.
        assert_eq!(image.full_tag_word(), 0xFFFE);
    }

    #[test]
    fn denormal_is_special() {
        // TOP = 7, physical 7 = ST(0) is a denormal.
        let image = image_with(7, 0b1000_0000, &[(0, DENORMAL)]);
        // p7 = 10 → 0b10_11_11_11_11_11_11_11.
        assert_eq!(image.full_tag_word(), 0xBFFF);
    }

    #[test]
    fn physical_register_maps_through_top() {
        // TOP = 3: physical 5 is ST(2); physical 3 (= ST(0)) is marked empty even
        // though its slot holds a zero, physical 2 is ST(7) = infinity.
        let image = image_with(3, 0b0010_0100, &[(0, ZERO), (2, MINUS_2_5), (7, INFINITY)]);
        // p5 = 00 (bits 11:10), p2 = 10 (bits 5:4), others 11.
        // 0b11_11_00_11_11_10_11_11 = 0xF3EF.
        assert_eq!(image.full_tag_word(), 0xF3EF);
    }

    #[test]
    fn full_stack_of_mixed_values() {
        // TOP = 0, all eight registers in use; ST(i) = physical i.
        let values = [
            ONE, ZERO, QNAN, DENORMAL, MINUS_2_5, NEG_ZERO, INFINITY, UNNORMAL,
        ];
        let st: Vec<(usize, [u8; 10])> = values.iter().copied().enumerate().collect();
        let image = image_with(0, 0xFF, &st);
        // p7..p0 = 10 10 01 00 10 10 01 00.
        assert_eq!(image.full_tag_word(), 0b1010_0100_1010_0100);
    }

    fn control_fields_image(fip_width_byte: u8) -> FxSave {
        let mut raw = [0u8; 512];
        raw[0..2].copy_from_slice(&0x027Fu16.to_le_bytes()); // FCW
        raw[2..4].copy_from_slice(&0x3881u16.to_le_bytes()); // FSW: TOP = 7, IE, B
        raw[4] = 0x80;
        raw[6..8].copy_from_slice(&0xF9D9u16.to_le_bytes()); // FOP with junk in bits 15:11
        raw[8..12].copy_from_slice(&0x8123_4567u32.to_le_bytes()); // FIP[31:0]
        raw[12..16].copy_from_slice(&0xFFFF_0023u32.to_le_bytes()); // FCS / FIP[63:32]
        raw[16..20].copy_from_slice(&0x89AB_CDEFu32.to_le_bytes()); // FDP[31:0]
        raw[20..24].copy_from_slice(&0xFFFF_002Bu32.to_le_bytes()); // FDS / FDP[63:32]
        raw[24..28].copy_from_slice(&0x0000_9FC0u32.to_le_bytes()); // MXCSR
        raw[32..42].copy_from_slice(&ONE);
        for i in 0..16u8 {
            let start = 160 + 16 * usize::from(i);
            for (k, byte) in raw[start..start + 16].iter_mut().enumerate() {
                *byte = i * 16 + k as u8;
            }
        }
        raw[FXSAVE_FIP_WIDTH_OFFSET] = fip_width_byte;
        FxSave(raw)
    }

    #[test]
    fn control_fields_in_64_bit_format() {
        let regs = FpuRegs::from_fxsave(&control_fields_image(8), Width::Bits32);
        assert_eq!(regs.fctrl, 0x027F);
        assert_eq!(regs.fstat, 0x3881);
        assert_eq!(regs.ftag, 0x3FFF);
        assert_eq!(regs.fioff, 0x8123_4567);
        assert_eq!(regs.fiseg, 0xFFFF_0023);
        assert_eq!(regs.fooff, 0x89AB_CDEF);
        assert_eq!(regs.foseg, 0xFFFF_002B);
        assert_eq!(regs.fop, 0x01D9);
        assert_eq!(regs.mxcsr, 0x9FC0);
        assert_eq!(regs.st[0], ONE);
        assert_eq!(regs.st[1], [0; 10]);
        assert_eq!(regs.xmm[0], 0x0F0E_0D0C_0B0A_0908_0706_0504_0302_0100);
        assert_eq!(regs.xmm[15], 0xFFFE_FDFC_FBFA_F9F8_F7F6_F5F4_F3F2_F1F0);
    }

    #[test]
    fn selectors_in_32_bit_format_are_16_bits() {
        for width_byte in [4, 2] {
            let regs = FpuRegs::from_fxsave(&control_fields_image(width_byte), Width::Bits64);
            assert_eq!(regs.fiseg, 0x0023, "byte 511 = {width_byte}");
            assert_eq!(regs.foseg, 0x002B, "byte 511 = {width_byte}");
            assert_eq!(regs.fioff, 0x8123_4567);
            assert_eq!(regs.fooff, 0x89AB_CDEF);
        }
    }

    #[test]
    fn unrecorded_format_falls_back_to_hypervisor_width() {
        let image = control_fields_image(0);
        assert_eq!(image.format(Width::Bits64), FxSaveFormat::Bits64);
        assert_eq!(image.format(Width::Bits32), FxSaveFormat::Bits32);
        assert_eq!(
            FpuRegs::from_fxsave(&image, Width::Bits64).fiseg,
            0xFFFF_0023
        );
        assert_eq!(FpuRegs::from_fxsave(&image, Width::Bits32).fiseg, 0x0023);
        // A byte 511 that is no known width is treated like "not recorded".
        assert_eq!(
            control_fields_image(0x55).format(Width::Bits32),
            FxSaveFormat::Bits32
        );
    }

    #[test]
    fn absent_fpu_state_gives_reset_values() {
        let state = VcpuState {
            recorded: true,
            ..VcpuState::unrecorded(
                0,
                crate::kinds::ContextLayout::X86_64,
                crate::kinds::GuestKind::Pv,
            )
        };
        let regs = FpuRegs::from_state(&state, Width::Bits64);
        assert_eq!(regs.fctrl, 0x037F);
        assert_eq!(regs.fstat, 0);
        assert_eq!(regs.ftag, 0xFFFF);
        assert_eq!(regs.mxcsr, 0x1F80);
        assert_eq!(
            (regs.fiseg, regs.fioff, regs.foseg, regs.fooff, regs.fop),
            (0, 0, 0, 0, 0)
        );
        assert_eq!(regs.st, [[0; 10]; 8]);
        assert_eq!(regs.xmm, [0; 16]);

        let with_image = VcpuState {
            fpu: Some(control_fields_image(8)),
            ..state
        };
        assert_eq!(
            FpuRegs::from_state(&with_image, Width::Bits64).fctrl,
            0x027F
        );
    }
}
