//! The struct layout the task walker needs, resolved by member *name* from any source
//! of struct shapes: a vmlinux's DWARF ([`super::debuginfo::DebugInfo`]), offsets a C
//! compiler printed (the tests' oracle), or a made-up layout (the fuzz harness).
//!
//! Linux moved these members around over the years; [`KernelLayout::resolve`] picks
//! whichever of the known shapes the source has:
//!
//! | what | where, newest first |
//! |---|---|
//! | scheduler state | `task_struct.__state` (5.14+), `task_struct.state` (a `long` before) |
//! | CPU of a task | `task_struct.thread_info.cpu` (5.16+, x86's `THREAD_INFO_IN_TASK`), `task_struct.cpu` (4.9–5.15), `thread_info.cpu` on the task's stack (before 4.9) |
//! | threads of a group | `signal->thread_head` / `task_struct.thread_node` (3.14+), `task_struct.thread_group` (before 6.7) |
//! | switch frame | `struct inactive_task_frame` at `thread.sp` (4.9+); `thread.ip` (i386 before 4.9) |

use serde::Serialize;

/// Where a member sits in its struct, and how many bytes its type takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Field {
    /// Byte offset from the start of the (outermost) struct.
    pub offset: u64,
    /// Size in bytes of the member's type (arrays: all elements).
    pub size: u64,
}

impl Field {
    /// A field at `offset` of `size` bytes.
    pub const fn new(offset: u64, size: u64) -> Field {
        Field { offset, size }
    }
}

/// Where a task's CPU number lives (see the module doc for the kernel versions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum CpuField {
    /// `task_struct.cpu`.
    Task(Field),
    /// `task_struct.thread_info.cpu`: the offset is from the start of the task.
    ThreadInfoInTask(Field),
    /// `struct thread_info` at the bottom of the task's stack (`task->stack`): the
    /// offset is from the start of that `thread_info`.
    ThreadInfoOnStack(Field),
}

/// How the threads of a thread group are linked (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ThreadList {
    /// `task->signal->thread_head`, a list of `task_struct.thread_node`; the group
    /// leader is on it too.
    SignalThreadHead {
        /// `task_struct.signal` (a pointer).
        signal: Field,
        /// `signal_struct.thread_head` offset.
        thread_head: u64,
        /// `task_struct.thread_node` offset.
        thread_node: u64,
    },
    /// `task_struct.thread_group`: a ring through the group's tasks with no head.
    ThreadGroup {
        /// `task_struct.thread_group` offset.
        thread_group: u64,
    },
    /// Neither: each thread-group leader is listed alone.
    None,
}

/// The switch frame a sleeping task left on its stack (`struct inactive_task_frame`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FrameLayout {
    /// `sizeof(struct inactive_task_frame)`: the task's stack pointer after the
    /// switch returns is `thread.sp` plus this.
    pub size: u64,
    /// Every member, in declaration order (x86_64: r15 r14 r13 r12 bx bp ret_addr;
    /// i386: flags si di bx bp ret_addr, older kernels without flags).
    pub members: Vec<(String, Field)>,
}

/// Everything the task walker reads, as offsets into kernel structs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KernelLayout {
    /// 8 on x86_64, 4 on i386.
    pub pointer_size: u64,
    /// `sizeof(struct task_struct)`.
    pub task_struct_size: u64,
    /// `list_head.next`.
    pub list_next: u64,
    /// `list_head.prev`.
    pub list_prev: u64,
    /// `task_struct.tasks`: the list of thread-group leaders, headed by `init_task`.
    pub tasks: u64,
    /// `task_struct.pid`.
    pub pid: Field,
    /// `task_struct.tgid`.
    pub tgid: Field,
    /// `task_struct.comm`.
    pub comm: Field,
    /// `task_struct.__state` or `task_struct.state`.
    pub state: Field,
    /// `task_struct.exit_state`.
    pub exit_state: Option<Field>,
    /// `task_struct.flags` (`PF_*`).
    pub flags: Option<Field>,
    /// `task_struct.on_cpu`.
    pub on_cpu: Option<Field>,
    /// The task's CPU number.
    pub cpu: Option<CpuField>,
    /// `task_struct.mm`.
    pub mm: Field,
    /// `task_struct.active_mm`.
    pub active_mm: Option<Field>,
    /// `task_struct.stack`.
    pub stack: Option<Field>,
    /// `task_struct.real_parent`.
    pub real_parent: Option<Field>,
    /// `task_struct.thread.sp`.
    pub thread_sp: Field,
    /// `task_struct.thread.ip` (i386 before 4.9).
    pub thread_ip: Option<Field>,
    /// How threads are linked.
    pub threads: ThreadList,
    /// `mm_struct.pgd`.
    pub mm_pgd: Field,
    /// `struct inactive_task_frame`, where the kernel has one.
    pub frame: Option<FrameLayout>,
}

/// What a layout source could not provide.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MissingLayout {
    /// A struct the walker cannot do without.
    #[error("struct {0} is not described")]
    Struct(String),
    /// A member the walker cannot do without (`path` may be nested: `thread.sp`).
    #[error("struct {struct_name} has no member {path}")]
    Member {
        /// The struct.
        struct_name: String,
        /// The member (or one of several accepted names, `a|b`).
        path: String,
    },
}

/// A source of struct shapes, asked by name.
pub trait LayoutSource {
    /// Bytes in a pointer (8 on x86_64, 4 on i386).
    fn pointer_size(&self) -> u64;
    /// `sizeof(struct name)`, if the source describes it.
    fn struct_size(&self, name: &str) -> Option<u64>;
    /// Offset (from the start of `struct_name`) and size of member `path`; a path may
    /// name nested members (`thread.sp`); members of anonymous structs and unions are
    /// found as if they were the outer struct's own.
    fn member(&self, struct_name: &str, path: &str) -> Option<Field>;
    /// Every member of `struct_name` in declaration order (anonymous ones flattened).
    fn members(&self, struct_name: &str) -> Option<Vec<(String, Field)>>;
}

/// The struct names [`KernelLayout::resolve`] may ask a source about.
pub const STRUCTS: &[&str] = &[
    "task_struct",
    "list_head",
    "mm_struct",
    "thread_struct",
    "signal_struct",
    "inactive_task_frame",
    "thread_info",
    "pcpu_hot",
];

/// Nested member paths of `task_struct` that [`KernelLayout::resolve`] may ask for.
pub const TASK_NESTED: &[&str] = &["thread.sp", "thread.ip", "thread_info.cpu"];

impl KernelLayout {
    /// Resolve the layout from `src`, accepting any of the shapes in the module doc.
    pub fn resolve(src: &dyn LayoutSource) -> Result<KernelLayout, MissingLayout> {
        let ts = "task_struct";
        let task_struct_size = src
            .struct_size(ts)
            .ok_or_else(|| MissingLayout::Struct(ts.into()))?;
        let need = |s: &str, path: &str| {
            src.member(s, path).ok_or_else(|| MissingLayout::Member {
                struct_name: s.into(),
                path: path.into(),
            })
        };
        let opt = |path: &str| src.member(ts, path);
        src.struct_size("list_head")
            .ok_or_else(|| MissingLayout::Struct("list_head".into()))?;
        let list_next = need("list_head", "next")?.offset;
        let list_prev = need("list_head", "prev")?.offset;
        let state =
            opt("__state")
                .or_else(|| opt("state"))
                .ok_or_else(|| MissingLayout::Member {
                    struct_name: ts.into(),
                    path: "__state|state".into(),
                })?;
        let cpu = if let Some(f) = opt("cpu") {
            Some(CpuField::Task(f))
        } else if let Some(f) = opt("thread_info.cpu") {
            Some(CpuField::ThreadInfoInTask(f))
        } else {
            src.member("thread_info", "cpu")
                .map(CpuField::ThreadInfoOnStack)
        };
        let threads = match (
            opt("signal"),
            src.member("signal_struct", "thread_head"),
            opt("thread_node"),
            opt("thread_group"),
        ) {
            (Some(signal), Some(head), Some(node), _) => ThreadList::SignalThreadHead {
                signal,
                thread_head: head.offset,
                thread_node: node.offset,
            },
            (_, _, _, Some(group)) => ThreadList::ThreadGroup {
                thread_group: group.offset,
            },
            _ => ThreadList::None,
        };
        let frame = match (
            src.struct_size("inactive_task_frame"),
            src.members("inactive_task_frame"),
        ) {
            (Some(size), Some(members)) => Some(FrameLayout { size, members }),
            _ => None,
        };
        src.struct_size("mm_struct")
            .ok_or_else(|| MissingLayout::Struct("mm_struct".into()))?;
        Ok(KernelLayout {
            pointer_size: src.pointer_size(),
            task_struct_size,
            list_next,
            list_prev,
            tasks: need(ts, "tasks")?.offset,
            pid: need(ts, "pid")?,
            tgid: need(ts, "tgid")?,
            comm: need(ts, "comm")?,
            state,
            exit_state: opt("exit_state"),
            flags: opt("flags"),
            on_cpu: opt("on_cpu"),
            cpu,
            mm: need(ts, "mm")?,
            active_mm: opt("active_mm"),
            stack: opt("stack"),
            real_parent: opt("real_parent"),
            thread_sp: need(ts, "thread.sp")?,
            thread_ip: opt("thread.ip"),
            threads,
            mm_pgd: need("mm_struct", "pgd")?,
            frame,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A source from a table of `struct.member` → field.
    struct Table {
        sizes: BTreeMap<&'static str, u64>,
        fields: Vec<(&'static str, &'static str, Field)>,
    }

    impl LayoutSource for Table {
        fn pointer_size(&self) -> u64 {
            8
        }
        fn struct_size(&self, name: &str) -> Option<u64> {
            self.sizes.get(name).copied()
        }
        fn member(&self, s: &str, path: &str) -> Option<Field> {
            self.fields
                .iter()
                .find(|(a, b, _)| *a == s && *b == path)
                .map(|x| x.2)
        }
        fn members(&self, s: &str) -> Option<Vec<(String, Field)>> {
            self.sizes.get(s)?;
            Some(
                self.fields
                    .iter()
                    .filter(|(a, _, _)| *a == s)
                    .map(|(_, b, f)| (b.to_string(), *f))
                    .collect(),
            )
        }
    }

    fn base() -> Table {
        let f = Field::new;
        Table {
            sizes: [
                ("task_struct", 4096),
                ("list_head", 16),
                ("mm_struct", 1024),
            ]
            .into_iter()
            .collect(),
            fields: vec![
                ("list_head", "next", f(0, 8)),
                ("list_head", "prev", f(8, 8)),
                ("task_struct", "tasks", f(0x100, 16)),
                ("task_struct", "pid", f(0x200, 4)),
                ("task_struct", "tgid", f(0x204, 4)),
                ("task_struct", "comm", f(0x300, 16)),
                ("task_struct", "state", f(0x10, 8)),
                ("task_struct", "mm", f(0x120, 8)),
                ("task_struct", "thread.sp", f(0x808, 8)),
                ("mm_struct", "pgd", f(0x48, 8)),
            ],
        }
    }

    #[test]
    fn the_oldest_shapes_resolve_with_their_fallbacks() {
        let mut t = base();
        t.sizes.insert("thread_info", 64);
        t.fields.push(("thread_info", "cpu", Field::new(0x10, 4)));
        t.fields
            .push(("task_struct", "thread_group", Field::new(0x280, 16)));
        let l = KernelLayout::resolve(&t).unwrap();
        assert_eq!(l.state, Field::new(0x10, 8));
        assert_eq!(
            l.cpu,
            Some(CpuField::ThreadInfoOnStack(Field::new(0x10, 4)))
        );
        assert_eq!(
            l.threads,
            ThreadList::ThreadGroup {
                thread_group: 0x280
            }
        );
        assert_eq!(l.frame, None);
    }

    #[test]
    fn newer_members_win_over_older_ones() {
        let mut t = base();
        let f = Field::new;
        t.sizes.insert("signal_struct", 1024);
        t.sizes.insert("inactive_task_frame", 16);
        t.fields.extend([
            ("task_struct", "__state", f(0x18, 4)),
            ("task_struct", "thread_info.cpu", f(0x14, 4)),
            ("task_struct", "thread_group", f(0x280, 16)),
            ("task_struct", "thread_node", f(0x290, 16)),
            ("task_struct", "signal", f(0x400, 8)),
            ("signal_struct", "thread_head", f(0x10, 16)),
            ("inactive_task_frame", "bp", f(0, 8)),
            ("inactive_task_frame", "ret_addr", f(8, 8)),
        ]);
        let l = KernelLayout::resolve(&t).unwrap();
        assert_eq!(l.state, f(0x18, 4));
        assert_eq!(l.cpu, Some(CpuField::ThreadInfoInTask(f(0x14, 4))));
        assert_eq!(
            l.threads,
            ThreadList::SignalThreadHead {
                signal: f(0x400, 8),
                thread_head: 0x10,
                thread_node: 0x290
            }
        );
        let frame = l.frame.unwrap();
        assert_eq!(frame.size, 16);
        assert_eq!(frame.members[1], ("ret_addr".to_string(), f(8, 8)));
    }

    #[test]
    fn a_missing_member_is_named() {
        let mut t = base();
        t.fields.retain(|x| x.1 != "thread.sp");
        assert_eq!(
            KernelLayout::resolve(&t).unwrap_err().to_string(),
            "struct task_struct has no member thread.sp"
        );
        let mut t = base();
        t.fields.retain(|x| x.1 != "state");
        assert!(KernelLayout::resolve(&t)
            .unwrap_err()
            .to_string()
            .contains("__state|state"));
    }
}
