// The Xen PV ABI (public headers, interface version 0x00041300): hypercall numbers, sub-operations,
// error codes, and the layouts of the structures guests share with the hypervisor, for both guest
// widths. Each struct is documented as the headers do: fields with byte offsets, IN (guest to
// hypervisor) or OUT (hypervisor to guest). Offsets are `W64_*` for 64-bit guests and `W32_*` for
// 32-bit (compat) guests where they differ.

export const XEN_INTERFACE_VERSION = 0x00041300;
export const XEN_VERSION_MAJOR = 4;
export const XEN_VERSION_MINOR = 19;

// ---- hypercall numbers ----
export const HC_set_trap_table = 0;
export const HC_mmu_update = 1;
export const HC_set_gdt = 2;
export const HC_stack_switch = 3;
export const HC_set_callbacks = 4;
export const HC_fpu_taskswitch = 5;
export const HC_sched_op_compat = 6;
export const HC_platform_op = 7;
export const HC_set_debugreg = 8;
export const HC_get_debugreg = 9;
export const HC_update_descriptor = 10;
export const HC_memory_op = 12;
export const HC_multicall = 13;
export const HC_update_va_mapping = 14;
export const HC_set_timer_op = 15;
export const HC_event_channel_op_compat = 16;
export const HC_xen_version = 17;
export const HC_console_io = 18;
export const HC_physdev_op_compat = 19;
export const HC_grant_table_op = 20;
export const HC_vm_assist = 21;
export const HC_update_va_mapping_otherdomain = 22;
export const HC_iret = 23;
export const HC_vcpu_op = 24;
export const HC_set_segment_base = 25;
export const HC_mmuext_op = 26;
export const HC_xsm_op = 27;
export const HC_nmi_op = 28;
export const HC_sched_op = 29;
export const HC_callback_op = 30;
export const HC_xenoprof_op = 31;
export const HC_event_channel_op = 32;
export const HC_physdev_op = 33;
export const HC_hvm_op = 34;
export const HC_sysctl = 35;
export const HC_domctl = 36;

// ---- error codes (negative in the return register) ----
export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
export const EINTR = 4;
export const EIO = 5;
export const E2BIG = 7;
export const EBADF = 9;
export const ECHILD = 10;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const EXDEV = 18;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENOSPC = 28;
export const ERANGE = 34;
export const EDOM = 33;
export const ENOSYS = 38;
export const EOPNOTSUPP = 95;

export const DOMID_SELF: u32 = 0x7ff0;
export const DOMID_IO: u32 = 0x7ff1;
export const DOMID_XEN: u32 = 0x7ff2;

// ---- console_io ----
export const CONSOLEIO_write = 0; // IN count, buffer
export const CONSOLEIO_read = 1;

// ---- sched_op ----
export const SCHEDOP_yield = 0;
export const SCHEDOP_block = 1;
export const SCHEDOP_shutdown = 2; // IN struct sched_shutdown { u32 reason @0 }
export const SCHEDOP_poll = 3; // IN struct sched_poll { handle ports @0; u32 nr_ports @8/@4; u64 timeout @16/@8 }
export const SCHEDOP_remote_shutdown = 4; // IN { u16 domain_id @0; u32 reason @4 }
export const SCHEDOP_shutdown_code = 5; // IN struct sched_shutdown
export const SCHEDOP_watchdog = 6;
export const SCHEDOP_pin_override = 7;

// SHUTDOWN_* (sched_shutdown reasons): in ../records.ts, which the host reads too.
export {
  SHUTDOWN_poweroff, SHUTDOWN_reboot, SHUTDOWN_suspend, SHUTDOWN_crash, SHUTDOWN_watchdog, SHUTDOWN_soft_reset
} from "../records";

// ---- xen_version ----
export const XENVER_version = 0; // returns (major << 16) | minor
export const XENVER_extraversion = 1; // OUT char[16]
export const XENVER_compile_info = 2; // OUT { char compiler[64], compile_by[16], compile_domain[32], compile_date[32] }
export const XENVER_capabilities = 3; // OUT char[1024]
export const XENVER_changeset = 4; // OUT char[64]
export const XENVER_platform_parameters = 5; // OUT { ulong virt_start }
export const XENVER_get_features = 6; // IN u32 submap_idx @0; OUT u32 submap @4
export const XENVER_pagesize = 7;
export const XENVER_guest_handle = 8; // OUT u8[16]
export const XENVER_commandline = 9; // OUT char[1024]
export const XENVER_build_id = 10;

export const XENFEAT_writable_page_tables = 0;
export const XENFEAT_writable_descriptor_tables = 1;
export const XENFEAT_auto_translated_physmap = 2;
export const XENFEAT_supervisor_mode_kernel = 3;
export const XENFEAT_pae_pgdir_above_4gb = 4;
export const XENFEAT_mmu_pt_update_preserve_ad = 5;
export const XENFEAT_highmem_assist = 6;
export const XENFEAT_gnttab_map_avail_bits = 7;
export const XENFEAT_hvm_callback_vector = 8;
export const XENFEAT_hvm_safe_pvclock = 9;
export const XENFEAT_hvm_pirqs = 10;
export const XENFEAT_dom0 = 11;
export const XENFEAT_grant_map_identity = 12;
export const XENFEAT_memory_op_vnode_supported = 13;

// ---- vm_assist ----
export const VMASST_CMD_enable = 0;
export const VMASST_CMD_disable = 1;
export const VMASST_TYPE_4gb_segments = 0;
export const VMASST_TYPE_4gb_segments_notify = 1;
export const VMASST_TYPE_writable_pagetables = 2;
export const VMASST_TYPE_pae_extended_cr3 = 3;
export const VMASST_TYPE_architectural_iopl = 4;
export const VMASST_TYPE_runstate_update_flag = 5;
export const VMASST_TYPE_m2p_strict = 32;

// ---- mmu_update: struct mmu_update { u64 ptr @0; u64 val @8 } (IN), 16 bytes in both widths ----
export const MMU_NORMAL_PT_UPDATE = 0; // ptr: machine address of the entry
export const MMU_MACHPHYS_UPDATE = 1; // ptr: machine address of the frame | 1; val: its pfn
export const MMU_PT_UPDATE_PRESERVE_AD = 2;
export const MMU_PT_UPDATE_NO_TRANSLATE = 3;

// ---- mmuext_op: struct mmuext_op { u32 cmd @0; arg1 (ulong mfn / ulong linear_addr) @8/@4;
//      arg2 (u32 nr_ents / handle vcpumask / ulong src_mfn) @16/@8 }: 24 bytes (64), 12 bytes (32) ----
export const MMUEXT_PIN_L1_TABLE = 0;
export const MMUEXT_PIN_L2_TABLE = 1;
export const MMUEXT_PIN_L3_TABLE = 2;
export const MMUEXT_PIN_L4_TABLE = 3;
export const MMUEXT_UNPIN_TABLE = 4;
export const MMUEXT_NEW_BASEPTR = 5;
export const MMUEXT_TLB_FLUSH_LOCAL = 6;
export const MMUEXT_INVLPG_LOCAL = 7;
export const MMUEXT_TLB_FLUSH_MULTI = 8;
export const MMUEXT_INVLPG_MULTI = 9;
export const MMUEXT_TLB_FLUSH_ALL = 10;
export const MMUEXT_INVLPG_ALL = 11;
export const MMUEXT_FLUSH_CACHE = 12;
export const MMUEXT_SET_LDT = 13;
export const MMUEXT_NEW_USER_BASEPTR = 15;
export const MMUEXT_CLEAR_PAGE = 16;
export const MMUEXT_COPY_PAGE = 17;
export const MMUEXT_FLUSH_CACHE_GLOBAL = 18;
export const MMUEXT_MARK_SUPER = 19;
export const MMUEXT_UNMARK_SUPER = 20;

// update_va_mapping flags
export const UVMF_NONE = 0;
export const UVMF_TLB_FLUSH = 1;
export const UVMF_INVLPG = 2;
export const UVMF_FLUSHTYPE_MASK = 3;
export const UVMF_MULTI = 0;
export const UVMF_LOCAL = 0;
export const UVMF_ALL = 4;

// ---- memory_op ----
export const XENMEM_increase_reservation = 0;
export const XENMEM_decrease_reservation = 1;
export const XENMEM_maximum_ram_page = 2;
export const XENMEM_current_reservation = 3;
export const XENMEM_maximum_reservation = 4;
export const XENMEM_machphys_mfn_list = 5;
export const XENMEM_populate_physmap = 6;
export const MEMOP_EXTENT_SHIFT = 6; // memory_op: cmd | (start_extent << 6) in a continuation
export const XENMEM_add_to_physmap = 7;
export const XENMEM_memory_map = 9;
export const XENMEM_machine_memory_map = 10;
export const XENMEM_exchange = 11;
export const XENMEM_machphys_mapping = 12;
export const XENMEM_maximum_gpfn = 14;
// struct xen_memory_reservation (64 / 32): extent_start handle @0/@0; nr_extents ulong @8/@4;
// extent_order u32 @16/@8; mem_flags u32 @20/@12; domid u16 @24/@16. Size 32 / 20.
// struct xen_memory_map: nr_entries u32 @0 (IN/OUT); buffer handle @8/@4 (e820 entries: u64 addr,
// u64 size, u32 type; 20 bytes each).
// struct xen_machphys_mapping: v_start @0, v_end @8/@4, max_mfn @16/@8 (ulong each, OUT).

// ---- vcpu_op ----
export const VCPUOP_initialise = 0;
export const VCPUOP_up = 1;
export const VCPUOP_down = 2;
export const VCPUOP_is_up = 3;
export const VCPUOP_get_runstate_info = 4;
export const VCPUOP_register_runstate_memory_area = 5; // IN { handle addr (guest VA) @0 }
export const VCPUOP_set_periodic_timer = 6; // IN { u64 period_ns }
export const VCPUOP_stop_periodic_timer = 7;
export const VCPUOP_set_singleshot_timer = 8; // IN { u64 timeout_abs_ns @0; u32 flags @8 }
export const VCPUOP_stop_singleshot_timer = 9;
export const VCPUOP_register_vcpu_info = 10; // IN { u64 mfn @0; u32 offset @8; u32 rsvd @12 }
export const VCPUOP_send_nmi = 11;
export const VCPUOP_get_physid = 12;
export const VCPUOP_register_vcpu_time_memory_area = 13;
export const VCPU_SSHOTTMR_future = 1;

// ---- callback_op ----
// IN struct callback_register { u16 type @0; u16 flags @2; address @8 (64) / {u32 cs @4, u32 eip @8} (32) }
export const CALLBACKOP_register = 0;
export const CALLBACKOP_unregister = 1; // IN { u16 type }
export const CALLBACKTYPE_event = 0;
export const CALLBACKTYPE_failsafe = 1;
export const CALLBACKTYPE_syscall = 2;
export const CALLBACKTYPE_sysenter_deprecated = 3;
export const CALLBACKTYPE_nmi = 4;
export const CALLBACKTYPE_sysenter = 5;
export const CALLBACKTYPE_syscall32 = 7;
export const CALLBACKF_mask_events = 1;

// ---- event_channel_op ----
export const EVTCHNOP_bind_interdomain = 0;
export const EVTCHNOP_bind_virq = 1;
export const EVTCHNOP_bind_pirq = 2;
export const EVTCHNOP_close = 3;
export const EVTCHNOP_send = 4;
export const EVTCHNOP_status = 5;
export const EVTCHNOP_alloc_unbound = 6;
export const EVTCHNOP_bind_ipi = 7;
export const EVTCHNOP_bind_vcpu = 8;
export const EVTCHNOP_unmask = 9;
export const EVTCHNOP_reset = 10;
export const EVTCHNOP_init_control = 11;
export const EVTCHNOP_expand_array = 12;
export const EVTCHNOP_set_priority = 13;

export const VIRQ_TIMER = 0;
export const VIRQ_DEBUG = 1;
export const VIRQ_CONSOLE = 2;
export const VIRQ_DOM_EXC = 3;
export const VIRQ_TBUF = 4;
export const VIRQ_DEBUGGER = 6;
export const VIRQ_XENOPROF = 7;
export const VIRQ_CON_RING = 8;
export const VIRQ_PCPU_STATE = 9;
export const VIRQ_MEM_EVENT = 10;
export const VIRQ_ARGO = 11;
export const VIRQ_ENOMEM = 12;
export const VIRQ_XENPMU = 13;
export const NR_VIRQS = 24;

// ---- grant_table_op ----
export const GNTTABOP_map_grant_ref = 0;
export const GNTTABOP_unmap_grant_ref = 1;
export const GNTTABOP_setup_table = 2;
export const GNTTABOP_dump_table = 3;
export const GNTTABOP_transfer = 4;
export const GNTTABOP_copy = 5;
export const GNTTABOP_query_size = 6;
export const GNTTABOP_unmap_and_replace = 7;
export const GNTTABOP_set_version = 8;
export const GNTTABOP_get_status_frames = 9;
export const GNTTABOP_get_version = 10;
export const GNTTABOP_swap_grant_ref = 11;

// ---- physdev_op ----
export const PHYSDEVOP_eoi = 12;
export const PHYSDEVOP_set_iopl = 6; // IN { u32 iopl }
export const PHYSDEVOP_set_iobitmap = 7;

// ---- trap_info: { u8 vector @0; u8 flags @1 (bits 0-1 DPL, bit 2: mask events); u16 cs @2;
//      address @8 (64) / @4 (32) }; 16 / 8 bytes; a table ends at address 0. ----
export const TI_MASK_EVENTS = 4;

// ---- shared_info ----
export const W64_VCPU_INFO_SIZE = 64;
export const W32_VCPU_INFO_SIZE = 48;
// vcpu_info: evtchn_upcall_pending u8 @0; evtchn_upcall_mask u8 @1; evtchn_pending_sel ulong @8/@4;
// arch.cr2 @16/@8; time @32/@16: { u32 version @0; u64 tsc_timestamp @8; u64 system_time @16;
// u32 tsc_to_system_mul @24; i8 tsc_shift @28; u8 flags @29 }.
export const VI_PENDING = 0;
export const VI_MASK = 1;
export const W64_VI_SEL = 8;
export const W32_VI_SEL = 4;
export const W64_VI_CR2 = 16;
export const W32_VI_CR2 = 8;
export const W64_VI_TIME = 32;
export const W32_VI_TIME = 16;
export const LEGACY_MAX_VCPUS = 32;
export const W64_SI_PENDING = 2048;
export const W64_SI_MASK = 2560;
export const W64_SI_WC_VERSION = 3072; // u32 wc_version, wc_sec, wc_nsec, wc_sec_hi
export const W64_SI_ARCH = 3088; // max_pfn, pfn_to_mfn_frame_list_list, nmi_reason, p2m_cr3, p2m_vaddr, p2m_generation
export const W32_SI_PENDING = 1536;
export const W32_SI_MASK = 1664;
export const W32_SI_WC_VERSION = 1792; // u32 wc_version, wc_sec, wc_nsec
export const W32_SI_ARCH = 1804; // 6 x u32, then wc_sec_hi @1828

// ---- start_info ----
// magic char[32] @0; nr_pages @32; shared_info (machine address) @40/@36; flags u32 @48/@40;
// store_mfn @56/@44; store_evtchn u32 @64/@48; console.mfn @72/@52; console.evtchn u32 @80/@56;
// pt_base (VA) @88/@60; nr_pt_frames @96/@64; mfn_list (VA) @104/@68; mod_start @112/@72;
// mod_len @120/@76; cmd_line char[1024] @128/@80; first_p2m_pfn @1152/@1104; nr_p2m_frames @1160/@1108.
export const SIF_PRIVILEGED = 1;
export const SIF_INITDOMAIN = 2;
export const SIF_MULTIBOOT_MOD = 4;
export const SIF_MOD_START_PFN = 8;

// ---- 64-bit PV selectors and addresses ----
export const FLAT_RING3_CS32 = 0xe023;
export const FLAT_RING3_CS64 = 0xe033;
export const FLAT_RING3_DS32 = 0xe02b;
export const FLAT_RING3_SS64 = 0xe02b;
export const HYPERVISOR_VIRT_START_64: u64 = 0xffff800000000000;
export const HYPERVISOR_VIRT_END_64: u64 = 0xffff880000000000;
export const MACH2PHYS_VIRT_START_64: u64 = 0xffff800000000000;
export const MACH2PHYS_VIRT_END_64: u64 = 0xffff804000000000;
export const VGCF_IN_SYSCALL: u64 = 1 << 8;
// struct iret_context (64-bit), at the guest's RSP when it calls iret: rax, r11, rcx, flags, rip, cs,
// rflags, rsp, ss (u64 each).

// ---- 32-bit PV selectors and addresses ----
export const FLAT_RING1_CS = 0xe019;
export const FLAT_RING1_DS = 0xe021;
export const FLAT_RING3_CS = 0xe02b;
export const FLAT_RING3_DS = 0xe033;
export const HYPERVISOR_VIRT_START_32: u32 = 0xf5800000;
export const MACH2PHYS_VIRT_START_32: u32 = 0xf5800000;
export const MACH2PHYS_VIRT_END_32: u32 = 0xf6800000;

// ETIME (62): a single-shot timer with VCPU_SSHOTTMR_future set is already in the past.
export const ETIME = 62;
@inline export function ETIME_(): i32 { return ETIME; }
@inline export function ENODEV_(): i32 { return ENODEV; }
