//! UART0 of the CMSDK APB subsystem (base `0x4000_4000`, RX interrupt IRQ 0
//! on the AN385/AN386 images): received bytes go from the interrupt handler
//! into a single-producer single-consumer ring; sending polls TX-full.

use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicUsize, Ordering};

const BASE: usize = 0x4000_4000;
const DATA: usize = BASE;
const STATE: usize = BASE + 0x04;
const CTRL: usize = BASE + 0x08;
const INTSTATUS: usize = BASE + 0x0C;
const BAUDDIV: usize = BASE + 0x10;

const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;
const CTRL_RX_INT_EN: u32 = 1 << 3;
const INT_RX: u32 = 1 << 1;

/// UART0's RX interrupt number.
const RX_IRQ: u16 = 0;
/// NVIC interrupt set-enable register 0.
const NVIC_ISER0: usize = 0xE000_E100;

/// The receive ring: a power of two, larger than one frame on the wire.
const RING: usize = 8192;
static mut RX: [u8; RING] = [0; RING];
static HEAD: AtomicUsize = AtomicUsize::new(0);
static TAIL: AtomicUsize = AtomicUsize::new(0);

fn reg(addr: usize) -> u32 {
    // SAFETY: a device register of the CMSDK UART.
    unsafe { read_volatile(addr as *const u32) }
}

fn set(addr: usize, v: u32) {
    // SAFETY: as above.
    unsafe { write_volatile(addr as *mut u32, v) }
}

/// Enables TX, RX and the RX interrupt.
pub fn init() {
    set(BAUDDIV, 16);
    set(CTRL, CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INT_EN);
    set(NVIC_ISER0, 1 << RX_IRQ);
}

/// Sends bytes, waiting while the TX buffer is full.
pub fn write(bytes: &[u8]) {
    for &b in bytes {
        while reg(STATE) & STATE_TX_FULL != 0 {}
        set(DATA, u32::from(b));
    }
}

/// The next received byte, if any.
pub fn read() -> Option<u8> {
    let t = TAIL.load(Ordering::Relaxed);
    if t == HEAD.load(Ordering::Acquire) {
        return None;
    }
    // SAFETY: the consumer owns slot `t` until TAIL moves past it.
    let b = unsafe { (*core::ptr::addr_of!(RX))[t % RING] };
    TAIL.store(t.wrapping_add(1), Ordering::Release);
    Some(b)
}

/// Sleeps until an interrupt unless a byte is already waiting (no lost wake-up:
/// interrupts are masked between the check and WFI, which still wakes on them).
pub fn wait() {
    cortex_m::interrupt::disable();
    if TAIL.load(Ordering::Relaxed) == HEAD.load(Ordering::Acquire) {
        cortex_m::asm::wfi();
    }
    // SAFETY: re-enables interrupts masked just above.
    unsafe { cortex_m::interrupt::enable() };
}

/// Moves received bytes into the ring (drops them if the ring is full).
///
/// The interrupt is cleared first: a byte arriving after the last RX-full
/// check raises it again instead of waiting unseen.
fn on_rx() {
    set(INTSTATUS, INT_RX);
    while reg(STATE) & STATE_RX_FULL != 0 {
        let b = reg(DATA) as u8;
        let h = HEAD.load(Ordering::Relaxed);
        if h.wrapping_sub(TAIL.load(Ordering::Acquire)) < RING {
            // SAFETY: the producer owns slot `h` until HEAD moves past it.
            unsafe { (*core::ptr::addr_of_mut!(RX))[h % RING] = b };
            HEAD.store(h.wrapping_add(1), Ordering::Release);
        }
    }
}

#[cortex_m_rt::exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn == RX_IRQ as i16 {
        on_rx();
    }
}
