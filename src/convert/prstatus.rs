//! `NT_PRSTATUS` descriptors: Linux's `struct elf_prstatus` for x86_64 and i386, with
//! a vCPU's general registers in `pr_reg` (`struct user_regs_struct` order).
//!
//! Layouts (Linux `include/linux/elfcore.h`, `arch/x86/include/asm/user_{64,32}.h`):
//!
//! | field | x86_64 | i386 |
//! |---|---|---|
//! | `pr_info` (3 × int), `pr_cursig` (short) + pad | 0 | 0 |
//! | `pr_sigpend`, `pr_sighold` (long) | 16, 24 | 16, 20 |
//! | `pr_pid`, `pr_ppid`, `pr_pgrp`, `pr_sid` (int) | 32 … 44 | 24 … 36 |
//! | 4 × `struct timeval` | 48 … 111 | 40 … 71 |
//! | `pr_reg` | 112 (27 × 8) | 72 (17 × 4) |
//! | `pr_fpvalid` (int) | 328 | 140 |
//! | size | 336 | 144 |

use crate::vcpu::VcpuState;

/// Size of the x86_64 `elf_prstatus`.
pub const PRSTATUS64_SIZE: usize = 336;
/// Size of the i386 `elf_prstatus`.
pub const PRSTATUS32_SIZE: usize = 144;
/// Offset of `pr_reg` in the x86_64 layout.
pub const PR_REG64: usize = 112;
/// Offset of `pr_reg` in the i386 layout.
pub const PR_REG32: usize = 72;

/// `orig_rax` of a context that is not in a system call.
const NOT_IN_SYSCALL: u64 = u64::MAX;

/// x86_64 `elf_prstatus` for `v`, reported as process `pid`.
///
/// `pr_reg` is `user_regs_struct`: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx
/// rsi rdi orig_rax rip cs eflags rsp ss fs_base gs_base ds es fs gs.
pub fn prstatus64(v: &VcpuState, pid: u32, fpvalid: bool) -> [u8; PRSTATUS64_SIZE] {
    let mut out = [0u8; PRSTATUS64_SIZE];
    out[32..36].copy_from_slice(&pid.to_le_bytes());
    let g = &v.gprs;
    let s = &v.selectors;
    let regs: [u64; 27] = [
        g.r15,
        g.r14,
        g.r13,
        g.r12,
        g.rbp,
        g.rbx,
        g.r11,
        g.r10,
        g.r9,
        g.r8,
        g.rax,
        g.rcx,
        g.rdx,
        g.rsi,
        g.rdi,
        NOT_IN_SYSCALL,
        v.rip,
        u64::from(s.cs),
        v.rflags,
        g.rsp,
        u64::from(s.ss),
        v.fs_base.unwrap_or(0),
        v.active_gs_base().unwrap_or(0),
        u64::from(s.ds),
        u64::from(s.es),
        u64::from(s.fs),
        u64::from(s.gs),
    ];
    for (i, r) in regs.iter().enumerate() {
        let at = PR_REG64 + 8 * i;
        out[at..at + 8].copy_from_slice(&r.to_le_bytes());
    }
    out[328..332].copy_from_slice(&u32::from(fpvalid).to_le_bytes());
    out
}

/// i386 `elf_prstatus` for `v` (low 32 bits of each register), reported as `pid`.
///
/// `pr_reg` is `user_regs_struct`: ebx ecx edx esi edi ebp eax ds es fs gs orig_eax eip
/// cs eflags esp ss.
pub fn prstatus32(v: &VcpuState, pid: u32) -> [u8; PRSTATUS32_SIZE] {
    let mut out = [0u8; PRSTATUS32_SIZE];
    out[24..28].copy_from_slice(&pid.to_le_bytes());
    let g = &v.gprs;
    let s = &v.selectors;
    let regs: [u64; 17] = [
        g.rbx,
        g.rcx,
        g.rdx,
        g.rsi,
        g.rdi,
        g.rbp,
        g.rax,
        u64::from(s.ds),
        u64::from(s.es),
        u64::from(s.fs),
        u64::from(s.gs),
        NOT_IN_SYSCALL,
        v.rip,
        u64::from(s.cs),
        v.rflags,
        g.rsp,
        u64::from(s.ss),
    ];
    for (i, r) in regs.iter().enumerate() {
        let at = PR_REG32 + 4 * i;
        out[at..at + 4].copy_from_slice(&(*r as u32).to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dump::{ContextLayout, GuestKind};
    use crate::vcpu::{Gprs, Selectors, VGCF_IN_KERNEL};

    fn state() -> VcpuState {
        VcpuState {
            slot: 0,
            layout: ContextLayout::X86_64,
            guest_kind: GuestKind::Pv,
            flags: VGCF_IN_KERNEL,
            gprs: Gprs {
                rax: 0xa,
                rbx: 0xb,
                rcx: 0xc,
                rdx: 0xd,
                rsi: 0x51,
                rdi: 0xd1,
                rbp: 0xb9,
                rsp: 0x59,
                r8: 8,
                r15: 15,
                ..Gprs::default()
            },
            rip: 0x1234_5678_9abc,
            rflags: 0x246,
            selectors: Selectors {
                cs: 0xe033,
                ss: 0xe02b,
                ..Selectors::default()
            },
            ctrlreg: [0; 8],
            debugreg: [0; 8],
            fs_base: Some(0xf5),
            gs_base_kernel: Some(0x95),
            gs_base_user: Some(0x96),
            fpu: None,
            efer: None,
            system: None,
            recorded: true,
        }
    }

    fn q(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }
    fn d(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn x86_64_registers_sit_where_linux_puts_them() {
        let p = prstatus64(&state(), 7, true);
        assert_eq!(d(&p, 32), 7);
        // user_regs_struct indexes (arch/x86/include/asm/user_64.h).
        assert_eq!(q(&p, PR_REG64), 15); // r15
        assert_eq!(q(&p, PR_REG64 + 9 * 8), 8); // r8
        assert_eq!(q(&p, PR_REG64 + 10 * 8), 0xa); // rax
        assert_eq!(q(&p, PR_REG64 + 15 * 8), u64::MAX); // orig_rax
        assert_eq!(q(&p, PR_REG64 + 16 * 8), 0x1234_5678_9abc); // rip
        assert_eq!(q(&p, PR_REG64 + 17 * 8), 0xe033); // cs
        assert_eq!(q(&p, PR_REG64 + 19 * 8), 0x59); // rsp
        assert_eq!(q(&p, PR_REG64 + 22 * 8), 0x95); // gs_base (kernel mode)
        assert_eq!(d(&p, 328), 1);
    }

    #[test]
    fn i386_registers_sit_where_linux_puts_them() {
        let p = prstatus32(&state(), 3);
        assert_eq!(d(&p, 24), 3);
        assert_eq!(d(&p, PR_REG32), 0xb); // ebx
        assert_eq!(d(&p, PR_REG32 + 6 * 4), 0xa); // eax
        assert_eq!(d(&p, PR_REG32 + 12 * 4), 0x5678_9abc); // eip, truncated
        assert_eq!(d(&p, PR_REG32 + 15 * 4), 0x59); // esp
    }
}
