//! Firmware for QEMU's `mps2-an386` board (Cortex-M4 at 25 MHz).
//!
//! The board layer is small on purpose; porting to another Cortex-M board
//! means replacing three things (see README.md):
//! - [`uart`]: byte I/O (RX interrupt into a ring buffer, polled TX);
//! - [`SysTickClock`]: the count source (SysTick; a real M4 can use DWT CYCCNT);
//! - `memory.x` and the static buffers: where code, arena and model live.
//!
//! Everything else is `device-bridge-board`: the protocol, the `.tflite` parser,
//! the arena planner and `kernels-int8`.
#![no_std]
#![no_main]

extern crate alloc;

use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};
use device_bridge_board::{Board, Clock, Config, Tx};
use device_bridge_protocol::msg::{Counter, Flavor};

mod uart;

/// Core clock of the AN386 image (QEMU's `SYSCLK_FRQ`).
const CLOCK_HZ: u32 = 25_000_000;
/// With `-icount shift=0` QEMU retires one instruction per virtual ns, so one
/// SysTick tick at 25 MHz is 40 instructions.
const INSTRUCTIONS_PER_TICK: u64 = 1_000_000_000 / CLOCK_HZ as u64;
/// SysTick reload: the full 24-bit range.
const SYST_RELOAD: u32 = 0x00FF_FFFF;

/// Bytes of model storage (in PSRAM, after the preload header).
const MODEL_BYTES: usize = 8 << 20;
/// Bytes of tensor arena.
const ARENA_BYTES: usize = 1 << 20;
/// Bytes of heap for the prepared plan.
const HEAP_BYTES: usize = 256 << 10;

/// `WBML`: a model preloaded by `-device loader` starts with this header.
const PRELOAD_MAGIC: u32 = u32::from_le_bytes(*b"WBML");

/// The model storage as `device-bridge` preloads it: magic, size, CRC-32, pad, bytes.
#[repr(C, align(16))]
struct ModelStore {
    magic: u32,
    size: u32,
    crc: u32,
    _pad: u32,
    bytes: [u8; MODEL_BYTES],
}

/// The model storage: the board's 16 MiB PSRAM, outside every ELF segment so
/// that QEMU's `-device loader` can fill it without overlapping the image.
const MODEL_ADDR: usize = 0x2100_0000;

#[repr(align(16))]
struct Arena([u8; ARENA_BYTES]);
static mut ARENA: Arena = Arena([0; ARENA_BYTES]);

#[global_allocator]
static HEAP: embedded_alloc::LlffHeap = embedded_alloc::LlffHeap::empty();
static mut HEAP_MEM: [MaybeUninit<u8>; HEAP_BYTES] = [MaybeUninit::uninit(); HEAP_BYTES];

/// SysTick wraps counted by its interrupt.
static WRAPS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::Relaxed);
}

/// Retired instructions from SysTick ticks (40 per tick under `-icount shift=0`).
struct SysTickClock;

impl Clock for SysTickClock {
    fn now(&mut self) -> u64 {
        loop {
            let w0 = WRAPS.load(Ordering::Acquire);
            let cur = cortex_m::peripheral::SYST::get_current();
            let pending = cortex_m::peripheral::SCB::is_pendst_pending();
            let w1 = WRAPS.load(Ordering::Acquire);
            if w0 == w1 && !pending {
                let ticks =
                    u64::from(w0) * (u64::from(SYST_RELOAD) + 1) + u64::from(SYST_RELOAD - cur);
                return ticks * INSTRUCTIONS_PER_TICK;
            }
            if w0 == w1 && pending {
                // Wrapped but the interrupt has not run yet (we are in a critical section).
                let ticks =
                    u64::from(w0 + 1) * (u64::from(SYST_RELOAD) + 1) + u64::from(SYST_RELOAD - cur);
                return ticks * INSTRUCTIONS_PER_TICK;
            }
        }
    }
}

struct UartTx;

/// Formatted text to UART0.
struct Text;

impl core::fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        uart::write(s.as_bytes());
        Ok(())
    }
}

impl Tx for UartTx {
    fn write(&mut self, bytes: &[u8]) {
        uart::write(bytes);
    }
}

#[entry]
fn main() -> ! {
    // SAFETY: single-threaded start-up; the heap memory is used only by the allocator.
    unsafe { HEAP.init(core::ptr::addr_of_mut!(HEAP_MEM) as usize, HEAP_BYTES) };
    let mut cp = cortex_m::Peripherals::take().unwrap();
    // target-cpu=cortex-m4 lets LLVM use the single-precision FPU (soft-float ABI).
    // SAFETY: CPACR: full access to coprocessors 10 and 11 (the FPU), before any float op.
    unsafe {
        let cpacr = 0xE000_ED88 as *mut u32;
        core::ptr::write_volatile(cpacr, core::ptr::read_volatile(cpacr) | (0xF << 20));
    }
    cortex_m::asm::dsb();
    cortex_m::asm::isb();
    cp.SYST.set_clock_source(SystClkSource::Core);
    cp.SYST.set_reload(SYST_RELOAD);
    cp.SYST.clear_current();
    cp.SYST.enable_interrupt();
    cp.SYST.enable_counter();
    uart::init();

    // SAFETY: PSRAM at MODEL_ADDR is RAM used by nothing else (zeroed at reset or
    // holding a preloaded image); any bit pattern is a valid ModelStore.
    let store = unsafe { &mut *(MODEL_ADDR as *mut ModelStore) };
    let (magic, size, crc) = (store.magic, store.size as usize, store.crc);
    // SAFETY: the arena is handed out once, here.
    let arena: &'static mut [u8] = unsafe { &mut (*core::ptr::addr_of_mut!(ARENA)).0 };
    let cfg = Config {
        name: "qemu-mps2-an386",
        cpu: "cortex-m4",
        clock_hz: CLOCK_HZ,
        counter: Counter::Instructions,
        // Integer-only FULLY_CONNECTED: the M4 has no double-precision FPU.
        flavor: Flavor::Micro,
    };
    let mut board = Board::new(cfg, &mut store.bytes[..], arena, SysTickClock);
    let mut tx = UartTx;
    if magic == PRELOAD_MAGIC {
        // A bad preload is reported on the UART; the board stays usable for a push.
        if let Err(e) = board.preload(size, crc) {
            use core::fmt::Write;
            let _ = write!(Text, "e-[preloaded model rejected: {e}]\r\n");
        }
    }
    board.boot(&mut tx);
    loop {
        match uart::read() {
            Some(b) => board.on_byte(b, &mut tx),
            None => uart::wait(),
        }
    }
}

/// Reports a panic on UART0, then halts.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    struct W;
    impl Write for W {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            uart::write(s.as_bytes());
            Ok(())
        }
    }
    let _ = write!(W, "\r\ne-[firmware panic: {info}]\r\n");
    loop {
        cortex_m::asm::wfi();
    }
}

/// Reports a hard fault (program counter, link register, fault status) on UART0, then halts.
#[exception]
unsafe fn HardFault(ef: &cortex_m_rt::ExceptionFrame) -> ! {
    use core::fmt::Write;
    struct W;
    impl Write for W {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            uart::write(s.as_bytes());
            Ok(())
        }
    }
    // SAFETY: reads of the SCB's configurable fault status and fault address registers.
    let (cfsr, hfsr, bfar, mmfar) = unsafe {
        (
            core::ptr::read_volatile(0xE000_ED28 as *const u32),
            core::ptr::read_volatile(0xE000_ED2C as *const u32),
            core::ptr::read_volatile(0xE000_ED38 as *const u32),
            core::ptr::read_volatile(0xE000_ED34 as *const u32),
        )
    };
    let _ = write!(
        W,
        "\r\ne-[firmware hard fault: pc {:#010x} lr {:#010x} cfsr {cfsr:#010x} hfsr {hfsr:#010x} bfar {bfar:#010x} mmfar {mmfar:#010x}]\r\n",
        ef.pc(),
        ef.lr()
    );
    loop {
        cortex_m::asm::wfi();
    }
}
